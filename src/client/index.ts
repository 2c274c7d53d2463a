/**
 * The sessionraft client: SessionClient over the SessionService Batch stream (or unary calls),
 * with leader discovery and typed errors. Depends only on the wire (proto/session.proto).
 */
export { SessionClient, connect, type ConnectOptions, type TlsOptions } from './client.js';
export {
  AlreadyExistsError,
  CancelledError,
  DeadlineExceededError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  OutOfRangeError,
  ResourceExhaustedError,
  SessionRaftError,
  UnavailableError,
  VersionMismatchError,
  errorFromStatus,
  type LeaderHint,
} from './errors.js';
export { LEADER_ADDRESS_METADATA_KEY, LEADER_ID_METADATA_KEY } from './endpoint.js';
export {
  OLDEST_INDEX_METADATA_KEY,
  SessionWatch,
  type SessionEvent,
  type SessionEventType,
  type WatchCursor,
  type WatchOptions,
} from './watch.js';
export type { BackupMessage, BackupStart } from './backup.js';
export type {
  CallOptions,
  CountResult,
  CreateInput,
  DeleteResult,
  Durability,
  GetResult,
  JsonObject,
  JsonValue,
  ListInput,
  ListResult,
  MemberChangeResult,
  MemberStatus,
  NodeStatus,
  ReadCallOptions,
  ReadConsistency,
  ReadResult,
  RequestId,
  Session,
  SessionWriteResult,
  CreateResult,
  UpdateInput,
  WriteCallOptions,
  WriteResult,
} from './types.js';
