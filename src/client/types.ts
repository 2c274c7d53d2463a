/**
 * The client's own types (kept apart from the server's on purpose: the SDK depends only on the
 * wire), and the wire shapes it sends and receives.
 */
import type {
  AddMemberRequest,
  BatchItem,
  BatchResult__Output,
  CountRequest,
  CountResponse__Output,
  CreateRequest,
  CreateResponse__Output,
  DeleteByClientRequest,
  DeleteByClientResponse__Output,
  DeleteRequest,
  DeleteResponse__Output,
  GetRequest,
  GetResponse__Output,
  ListRequest,
  ListResponse__Output,
  MemberChangeResponse__Output,
  PromoteMemberRequest,
  RemoveMemberRequest,
  Session__Output,
  StatusRequest,
  StatusResponse__Output,
  TouchRequest,
  TouchResponse__Output,
  TransferLeadershipRequest,
  TransferLeadershipResponse__Output,
  UpdateMemberRequest,
  UpdateRequest,
  UpdateResponse__Output,
} from '../proto/index.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface Session {
  readonly sessionId: string;
  readonly clientId: string;
  readonly transport: string;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
  readonly lastActivityMs: number;
  readonly data: JsonObject;
  readonly ttlMs: number;
  /** 0 = no lifetime cap. */
  readonly maxLifetimeMs: number;
  readonly version: number;
  readonly expiresAtMs: number;
}

export type Durability = 'sync' | 'async';
export type ReadConsistency = 'linearizable' | 'lease' | 'stale';

export interface CallOptions {
  readonly signal?: AbortSignal;
  /** Milliseconds this call may take, retries included. @default the client's deadlineMsDefault */
  readonly deadlineMs?: number;
}
/** Names one write for exactly-once: a retry with the same id gets the first answer and is applied once. */
export interface RequestId {
  /** 1..256 printable ASCII characters. */
  readonly clientId: string;
  readonly seq: number;
}
export interface WriteCallOptions extends CallOptions {
  /** @default the node's default (SYNC unless configured otherwise) */
  readonly durability?: Durability;
  /**
   * Give one to make a write exactly-once across your own retries (e.g. after a process restart).
   * @default the client's: its random per-instance clientId and the next seq (from 1)
   */
  readonly requestId?: RequestId;
}
export interface ReadCallOptions extends CallOptions {
  /** @default 'linearizable' */
  readonly consistency?: ReadConsistency;
  /**
   * Serve only once the node has applied this index (read your writes).
   * @default the highest index among this client's answered writes (0 before any)
   */
  readonly minIndex?: number;
}

export interface CreateInput {
  /**
   * The session's id, 1-128 characters of [A-Za-z0-9_-]; a live session with it already makes
   * the create fail with AlreadyExistsError. @default a UUID minted by the serving node
   */
  readonly sessionId?: string;
  readonly clientId: string;
  readonly transport: string;
  /** @default {} */
  readonly data?: JsonObject;
  /** @default the node's default TTL */
  readonly ttlMs?: number;
  /** @default 0 (none) */
  readonly maxLifetimeMs?: number;
}
export interface UpdateInput {
  /** Merged key by key; a key set to null is removed. */
  readonly data?: JsonObject;
  /** Fail with VersionMismatchError unless the session has this version. @default 0 (no check) */
  readonly expectedVersion?: number;
  /** New TTL. @default 0 (keep) */
  readonly ttlMs?: number;
}
export interface ListInput {
  /** @default 100 (server maximum 1000) */
  readonly pageSize?: number;
  readonly pageToken?: string;
}

export interface WriteResult {
  /** The log index of the write: pass it as minIndex to read it back anywhere. */
  readonly index: number;
  readonly durability: Durability;
}
export interface SessionWriteResult extends WriteResult {
  /**
   * The session after the write. An ASYNC write is answered before it is applied: a create then
   * carries the session as requested with its times at 0, an update or touch carries none; read
   * it back with `minIndex: index`.
   */
  readonly session: Session | undefined;
}
export interface CreateResult extends WriteResult {
  /** For an ASYNC create, the session as requested, version 1, times 0 until it is applied. */
  readonly session: Session;
}
export interface DeleteResult extends WriteResult {
  readonly deleted: number;
}
export interface ReadResult {
  /** The applied index the read was served at. */
  readonly index: number;
}
export interface GetResult extends ReadResult {
  readonly session: Session;
}
export interface ListResult extends ReadResult {
  readonly sessions: Session[];
  /** '' on the last page. */
  readonly nextPageToken: string;
}
export interface CountResult extends ReadResult {
  readonly count: number;
}

export interface MemberStatus {
  readonly id: number;
  readonly address: string;
  readonly voter: boolean;
  readonly matchIndex: number;
}
export interface NodeStatus {
  readonly nodeId: number;
  readonly clusterId: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: number;
  readonly leaderAddress: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: MemberStatus[];
  readonly stateDigest: string;
  /** Ids removed from the cluster: never members again. */
  readonly removedIds: number[];
}

/** The answer to a membership change: its log index and the membership after it. */
export interface MemberChangeResult {
  readonly index: number;
  readonly clusterId: string;
  readonly members: MemberStatus[];
}

// ---- wire shapes: the types generated from proto/session.proto (src/proto/, `npm run gen:proto`)
// Requests as the client sends them (every field optional), responses as proto-loader decodes
// them (camelCase, int64 as number, enums by name, every scalar present, an unset message null).

export type WireSession = Session__Output;

/** The SessionService operations, by BatchItem/BatchResult oneof name and unary method. */
export type Operation = NonNullable<BatchItem['request']>;
export const METHOD_NAMES: Readonly<Record<Operation, string>> = Object.freeze({
  create: 'Create',
  get: 'Get',
  update: 'Update',
  touch: 'Touch',
  delete: 'Delete',
  list: 'List',
  deleteByClient: 'DeleteByClient',
  count: 'Count',
});
export const WRITE_OPERATIONS: ReadonlySet<Operation> = new Set(['create', 'update', 'touch', 'delete', 'deleteByClient']);

export interface WireRequests {
  create: CreateRequest;
  get: GetRequest;
  update: UpdateRequest;
  touch: TouchRequest;
  delete: DeleteRequest;
  list: ListRequest;
  deleteByClient: DeleteByClientRequest;
  count: CountRequest;
}
import type { WireResponses } from '../proto/index.js';
export type { WireResponses };
/** Any one operation's request or response, where the code passes it on without looking inside. */
export type WireRequest = WireRequests[Operation];
export type WireResponse = WireResponses[Operation];
/** The durability and request id every write request carries. */
export type WireWriteFields = Pick<CreateRequest, 'durability' | 'requestId'>;
/** The consistency and minimum index every read request carries. */
export type WireReadFields = Pick<GetRequest, 'consistency' | 'minIndex'>;

/** The AdminService unary methods. */
export interface AdminRequests {
  Status: StatusRequest;
  AddMember: AddMemberRequest;
  RemoveMember: RemoveMemberRequest;
  PromoteMember: PromoteMemberRequest;
  UpdateMember: UpdateMemberRequest;
  TransferLeadership: TransferLeadershipRequest;
}
export interface AdminResponses {
  Status: StatusResponse__Output;
  AddMember: MemberChangeResponse__Output;
  RemoveMember: MemberChangeResponse__Output;
  PromoteMember: MemberChangeResponse__Output;
  UpdateMember: MemberChangeResponse__Output;
  TransferLeadership: TransferLeadershipResponse__Output;
}
export type AdminMethod = keyof AdminRequests;

export type WireBatchItem = BatchItem;
export type WireBatchResult = BatchResult__Output;
