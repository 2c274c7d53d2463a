/**
 * Where the .proto files are and how they are loaded: the one place for both. The proto folder
 * ships beside dist/ (package.json "files"), so it is found by walking up from this module:
 * src/proto/ under tsx, dist/src/proto/ once built, node_modules/sessionraft/dist/src/proto/ in
 * an installed package, /app/dist/src/proto/ in the image.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

/**
 * How every message is decoded: camelCase fields, 64-bit integers as numbers (indexes and
 * millisecond timestamps stay below 2^53), enums by name (an unknown number stays a number,
 * which validation rejects), bytes as Buffers, defaults filled in, and the name of the set
 * oneof member. The generated wire types (generated/) are made with the same options: see
 * GEN_TYPES_FLAGS and `npm run gen:proto`.
 */
export const PROTO_LOADER_OPTIONS = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
}) satisfies protoLoader.Options;

/** PROTO_LOADER_OPTIONS as proto-loader-gen-types flags: the generated types describe what the loader hands out. */
export const GEN_TYPES_FLAGS: readonly string[] = Object.freeze([
  ...(PROTO_LOADER_OPTIONS.keepCase ? ['--keepCase'] : []),
  `--longs=${PROTO_LOADER_OPTIONS.longs.name}`,
  `--enums=${PROTO_LOADER_OPTIONS.enums.name}`,
  `--bytes=${PROTO_LOADER_OPTIONS.bytes.name}`,
  ...(PROTO_LOADER_OPTIONS.defaults ? ['--defaults'] : []),
  ...(PROTO_LOADER_OPTIONS.oneofs ? ['--oneofs'] : []),
]);

export const SESSION_PROTO_FILE = 'session.proto';
export const RAFT_PROTO_FILE = 'raft.proto';
const PARENT_DIRS_SEARCHED_MAX = 6;

/** The directory holding session.proto, nearest above this module. */
export function findProtoDir(): string {
  const start = path.dirname(fileURLToPath(import.meta.url));
  let dir = start;
  for (let i = 0; i < PARENT_DIRS_SEARCHED_MAX; i++) {
    const candidate = path.join(dir, 'proto');
    if (existsSync(path.join(candidate, SESSION_PROTO_FILE))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`proto/${SESSION_PROTO_FILE} not found within ${PARENT_DIRS_SEARCHED_MAX} folders above ${start}`);
}

const PACKAGE_DEFINITIONS_CACHED_MAX = 16;
const cache = new Map<string, protoLoader.PackageDefinition>();

/**
 * Loads (once per list) the given proto files with PROTO_LOADER_OPTIONS; relative names resolve
 * against `protoDir`. @default protoDir findProtoDir()
 */
export function loadProtos(files: readonly string[], protoDir: string = findProtoDir()): protoLoader.PackageDefinition {
  const resolved = files.map((file) => path.resolve(protoDir, file));
  const key = resolved.join('\0');
  let definition = cache.get(key);
  if (definition === undefined) {
    definition = protoLoader.loadSync(resolved, { ...PROTO_LOADER_OPTIONS, includeDirs: [protoDir] });
    if (cache.size >= PACKAGE_DEFINITIONS_CACHED_MAX) cache.clear();
    cache.set(key, definition);
  }
  return definition;
}

/** One service of a loaded package definition, by its full name ('sessionraft.v1.SessionService'). */
export function serviceDefinition(definition: protoLoader.PackageDefinition, fullName: string): protoLoader.ServiceDefinition {
  const service = definition[fullName];
  // Message and enum definitions carry a `format`; service definitions are maps of methods.
  if (service === undefined || 'format' in service) {
    throw new Error(`service ${fullName} missing from the loaded proto files`);
  }
  return service as protoLoader.ServiceDefinition;
}

const roots = new Map<string, protobuf.Root>();

/**
 * The protobufjs types of one proto file (a path), parsed once per process with the field names
 * as the .proto spells them (snake_case): for code that walks raw message bytes and names the
 * fields it finds (src/server/decode.ts).
 */
export function loadProtoTypes(protoFile: string): protobuf.Root {
  let root = roots.get(protoFile);
  if (root === undefined) {
    root = new protobuf.Root().loadSync(protoFile, { keepCase: true });
    root.resolveAll();
    if (roots.size >= PACKAGE_DEFINITIONS_CACHED_MAX) roots.clear();
    roots.set(protoFile, root);
  }
  return root;
}
