/**
 * The server's names for the messages of proto/session.proto, as @grpc/proto-loader hands them
 * out with PROTO_LOADER_OPTIONS: aliases of the types generated from the .proto (src/proto/,
 * `npm run gen:proto`), `X__Output` for what is decoded and for what the server builds (every
 * field set). Requests are still untrusted: an enum number the proto does not know arrives as
 * a number although the generated enum types list names only, so validate.ts reads enums as
 * WireEnum and turns requests into trusted values.
 */
import type {
  BatchItem__Output,
  BatchRequest__Output,
  BatchResponse,
  CountRequest__Output,
  CountResponse__Output,
  CreateRequest__Output,
  CreateResponse__Output,
  DeleteByClientRequest__Output,
  DeleteByClientResponse__Output,
  DeleteRequest__Output,
  DeleteResponse__Output,
  Durability__Output,
  GetRequest__Output,
  GetResponse__Output,
  ListRequest__Output,
  ListResponse__Output,
  Member__Output,
  RequestId__Output,
  Session__Output,
  StatusResponse__Output,
  TouchRequest__Output,
  TouchResponse__Output,
  UpdateRequest__Output,
  UpdateResponse__Output,
  WatchEvent__Output,
  WatchEventType__Output,
  WatchRequest__Output,
  WatchResponse__Output,
  WireError__Output,
} from '../proto/index.js';

/** An enum as decoded: its name, or the raw number when the name is unknown. */
export type WireEnum = string | number;

export type WireRequestId = RequestId__Output;
/** The fields every write request has. */
export type WireWriteFields = Pick<CreateRequest__Output, 'durability' | 'requestId'>;
/** The fields every read request has. */
export type WireReadFields = Pick<GetRequest__Output, 'consistency' | 'minIndex'>;

export type WireCreateRequest = CreateRequest__Output;
export type WireGetRequest = GetRequest__Output;
export type WireUpdateRequest = UpdateRequest__Output;
export type WireTouchRequest = TouchRequest__Output;
export type WireDeleteRequest = DeleteRequest__Output;
export type WireListRequest = ListRequest__Output;
export type WireDeleteByClientRequest = DeleteByClientRequest__Output;
export type WireCountRequest = CountRequest__Output;

export type WireSession = Session__Output;
/** What the server answers with: never DURABILITY_UNSPECIFIED. */
export type WireDurability = Exclude<Durability__Output, 'DURABILITY_UNSPECIFIED'>;

/** Create, Update and Touch answer alike. */
export type WireSessionWriteResponse = CreateResponse__Output & UpdateResponse__Output & TouchResponse__Output;
/** Delete and DeleteByClient answer alike. */
export type WireDeletedResponse = DeleteResponse__Output & DeleteByClientResponse__Output;

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
import type { WireResponses } from '../proto/index.js';
export type { WireResponses };
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

/** `request` names the oneof member that is set (proto-loader `oneofs: true`); absent if none. */
export type WireBatchItem = BatchItem__Output;
export type WireBatchRequest = BatchRequest__Output;
export type WireError = WireError__Output;

/** What the server answers an item with: exactly one response member, or the error. */
export type WireBatchResult = { id: number } & (
  | { [K in Operation]: { [P in K]: WireResponses[K] } }[Operation]
  | { error: WireError }
);
export interface WireBatchResponse {
  results: WireBatchResult[];
}

export type WireMember = Member__Output;
export type WireStatusResponse = StatusResponse__Output;

// ---- Watch

export type WireWatchRequest = WatchRequest__Output;
/** The types the server sends: never WATCH_EVENT_TYPE_UNSPECIFIED. */
export type WireWatchEventType = Exclude<WatchEventType__Output, 'WATCH_EVENT_TYPE_UNSPECIFIED'>;
export type WireWatchEvent = WatchEvent__Output;
export type WireWatchResponse = WatchResponse__Output;

// Compile-time checks: the operations are the members of BatchItem's oneof, and the server's
// narrower result union still fits the generated message.
type Fits<T extends U, U> = T;
type OperationsAreTheOneof = [Fits<Operation, NonNullable<BatchItem__Output['request']>>, Fits<NonNullable<BatchItem__Output['request']>, Operation>];
type WireBatchResponseFits = Fits<WireBatchResponse, BatchResponse>;
