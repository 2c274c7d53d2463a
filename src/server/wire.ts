/**
 * The decoded shapes of proto/session.proto messages as @grpc/proto-loader hands them out with
 * PROTO_LOADER_OPTIONS (camelCase, int64 as number, enums as names, defaults filled, oneof
 * name in a virtual field). Inputs are typed loosely on purpose: an enum number the proto does
 * not know arrives as a number, and validate.ts is what turns these into trusted values.
 */

/** An enum as decoded: its name, or the raw number when the name is unknown. */
export type WireEnum = string | number;

export interface WireRequestId {
  clientId: string;
  seq: number;
}

export interface WireWriteFields {
  durability: WireEnum;
  requestId: WireRequestId | null;
}

export interface WireReadFields {
  consistency: WireEnum;
  minIndex: number;
}

export interface WireCreateRequest extends WireWriteFields {
  /** '' = the serving node mints a UUID. */
  sessionId: string;
  clientId: string;
  transport: string;
  dataJson: string;
  ttlMs: number;
  maxLifetimeMs: number;
}
export interface WireGetRequest extends WireReadFields {
  sessionId: string;
}
export interface WireUpdateRequest extends WireWriteFields {
  sessionId: string;
  dataJson: string;
  expectedVersion: number;
  ttlMs: number;
}
export interface WireTouchRequest extends WireWriteFields {
  sessionId: string;
}
export interface WireDeleteRequest extends WireWriteFields {
  sessionId: string;
}
export interface WireListRequest extends WireReadFields {
  clientId: string;
  pageSize: number;
  pageToken: string;
}
export interface WireDeleteByClientRequest extends WireWriteFields {
  clientId: string;
}
export interface WireCountRequest extends WireReadFields {
  clientId: string;
}

export interface WireSession {
  sessionId: string;
  clientId: string;
  transport: string;
  createdAtMs: number;
  updatedAtMs: number;
  lastActivityMs: number;
  dataJson: string;
  ttlMs: number;
  maxLifetimeMs: number;
  version: number;
  expiresAtMs: number;
}

export type WireDurability = 'DURABILITY_SYNC' | 'DURABILITY_ASYNC';

export interface WireSessionWriteResponse {
  session: WireSession | null;
  index: number;
  durability: WireDurability;
}
export interface WireReadSessionResponse {
  session: WireSession;
  index: number;
}
export interface WireDeletedResponse {
  deleted: number;
  index: number;
  durability: WireDurability;
}
export interface WireListResponse {
  sessions: WireSession[];
  nextPageToken: string;
  index: number;
}
export interface WireCountResponse {
  count: number;
  index: number;
}

/** The operations of SessionService, by their oneof field name in BatchItem / BatchResult. */
export interface WireRequests {
  create: WireCreateRequest;
  get: WireGetRequest;
  update: WireUpdateRequest;
  touch: WireTouchRequest;
  delete: WireDeleteRequest;
  list: WireListRequest;
  deleteByClient: WireDeleteByClientRequest;
  count: WireCountRequest;
}
export interface WireResponses {
  create: WireSessionWriteResponse;
  get: WireReadSessionResponse;
  update: WireSessionWriteResponse;
  touch: WireSessionWriteResponse;
  delete: WireDeletedResponse;
  list: WireListResponse;
  deleteByClient: WireDeletedResponse;
  count: WireCountResponse;
}
export type Operation = keyof WireRequests;
export const OPERATIONS: readonly Operation[] = Object.freeze([
  'create',
  'get',
  'update',
  'touch',
  'delete',
  'list',
  'deleteByClient',
  'count',
]);

export type WireBatchItem = {
  id: number;
  timeoutMs: number;
  /** The oneof member that is set (proto-loader `oneofs: true`); absent if none. */
  request?: Operation;
} & Partial<WireRequests>;

export interface WireBatchRequest {
  items: WireBatchItem[];
}

export interface WireError {
  code: number;
  message: string;
  leaderId: number;
  leaderAddress: string;
  notLeader: boolean;
}

export type WireBatchResult = { id: number } & (
  | { [K in Operation]: { [P in K]: WireResponses[K] } }[Operation]
  | { error: WireError }
);

export interface WireBatchResponse {
  results: WireBatchResult[];
}

export interface WireMember {
  id: number;
  address: string;
  voter: boolean;
  matchIndex: number;
}

export interface WireStatusResponse {
  nodeId: number;
  clusterId: string;
  role: string;
  term: number;
  leaderId: number;
  leaderAddress: string;
  commitIndex: number;
  appliedIndex: number;
  members: WireMember[];
  stateDigest: string;
  removedIds: number[];
}

// ---- Watch

export interface WireWatchRequest {
  clientId: string;
  fromIndex: number;
  fromPosition: number;
}

export type WireWatchEventType =
  | 'WATCH_EVENT_TYPE_CREATED'
  | 'WATCH_EVENT_TYPE_UPDATED'
  | 'WATCH_EVENT_TYPE_TOUCHED'
  | 'WATCH_EVENT_TYPE_DELETED'
  | 'WATCH_EVENT_TYPE_EXPIRED';

export interface WireWatchEvent {
  index: number;
  position: number;
  slot: number;
  type: WireWatchEventType;
  session: WireSession;
}

export interface WireWatchResponse {
  events: WireWatchEvent[];
  progressIndex: number;
}
