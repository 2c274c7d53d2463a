/**
 * proto/: the one place that finds the .proto files and loads them (with PROTO_LOADER_OPTIONS),
 * and the wire types generated from them (`npm run gen:proto`). client/, server/ and transport/
 * pick their services from what this loads.
 */
export {
  GEN_TYPES_FLAGS,
  PROTO_LOADER_OPTIONS,
  RAFT_PROTO_FILE,
  SESSION_PROTO_FILE,
  findProtoDir,
  loadProtoTypes,
  loadProtos,
  serviceDefinition,
} from './load.js';
export type * from './types.js';
