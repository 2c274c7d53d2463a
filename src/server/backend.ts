/**
 * The contract the services serve against lives in src/node/ (server/ depends on node/, never
 * the other way); it is re-exported here for the server's own files.
 */
export type {
  CallOptions,
  Durability,
  MemberChange,
  MemberInfo,
  NodeStatus,
  ReadConsistency,
  ReadOptions,
  SessionBackend,
  WriteOptions,
  WriteOutcome,
} from '../node/index.js';
