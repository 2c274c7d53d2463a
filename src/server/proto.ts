/**
 * Loading proto/session.proto. The proto files ship beside dist/ (package.json "files"), so the
 * folder is found by walking up from this module: src/server/ in development, dist/src/server/
 * once built.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

/**
 * How every message is decoded: camelCase fields, 64-bit integers as numbers (indexes and
 * millisecond timestamps stay below 2^53), enums by name (an unknown number stays a number,
 * which validation rejects), defaults filled in, and the name of the set oneof member.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

export const SESSION_PROTO_FILE = 'session.proto';
export const RAFT_PROTO_FILE = 'raft.proto';
const PARENT_DIRS_SEARCHED_MAX = 6;

/** The directory holding session.proto, nearest to this module. */
export function findProtoDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < PARENT_DIRS_SEARCHED_MAX; i++) {
    const candidate = path.join(dir, 'proto');
    if (existsSync(path.join(candidate, SESSION_PROTO_FILE))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`proto/${SESSION_PROTO_FILE} not found within ${PARENT_DIRS_SEARCHED_MAX} folders above ${import.meta.url}`);
}

const cache = new Map<string, protoLoader.PackageDefinition>();

/** Loads (once per list) the given proto files; relative names resolve against `protoDir`. */
export function loadProtos(files: readonly string[], protoDir: string): protoLoader.PackageDefinition {
  const resolved = files.map((file) => path.resolve(protoDir, file));
  const key = resolved.join('\0');
  let definition = cache.get(key);
  if (definition === undefined) {
    definition = protoLoader.loadSync(resolved, { ...PROTO_LOADER_OPTIONS, includeDirs: [protoDir] });
    cache.set(key, definition);
  }
  return definition;
}

export function serviceDefinition(
  definition: protoLoader.PackageDefinition,
  fullName: string,
): protoLoader.ServiceDefinition {
  const service = definition[fullName];
  // Message and enum definitions carry a `format`; service definitions are maps of methods.
  if (service === undefined || 'format' in service) {
    throw new Error(`service ${fullName} missing from the loaded proto files`);
  }
  return service as protoLoader.ServiceDefinition;
}
