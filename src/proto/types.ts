/**
 * The wire types, re-exported from generated/ (see README.md): for each message `X` the shape
 * one may send (`X`: every field optional, 64-bit integers also as string or Long, enums also as
 * numbers) and the shape proto-loader hands out with PROTO_LOADER_OPTIONS (`X__Output`: every
 * scalar and repeated field present, a message field `null` when unset, oneof members optional
 * with the set member's name in the oneof's own field).
 *
 * One gap: an enum number the .proto does not define decodes as that number, while an
 * `X__Output` enum field lists only the names; code that validates input takes enums as
 * `string | number` (see src/server/validate.ts).
 */
export type { AddMemberRequest, AddMemberRequest__Output } from './generated/sessionraft/v1/AddMemberRequest.js';
export type { AdminServiceClient, AdminServiceDefinition, AdminServiceHandlers } from './generated/sessionraft/v1/AdminService.js';
export type { BackupEnd, BackupEnd__Output } from './generated/sessionraft/v1/BackupEnd.js';
export type { BackupPair, BackupPair__Output } from './generated/sessionraft/v1/BackupPair.js';
export type { BackupPairs, BackupPairs__Output } from './generated/sessionraft/v1/BackupPairs.js';
export type { BackupRequest, BackupRequest__Output } from './generated/sessionraft/v1/BackupRequest.js';
export type { BackupResponse, BackupResponse__Output } from './generated/sessionraft/v1/BackupResponse.js';
export type { BackupStart, BackupStart__Output } from './generated/sessionraft/v1/BackupStart.js';
export type { BatchItem, BatchItem__Output } from './generated/sessionraft/v1/BatchItem.js';
export type { BatchRequest, BatchRequest__Output } from './generated/sessionraft/v1/BatchRequest.js';
export type { BatchResponse, BatchResponse__Output } from './generated/sessionraft/v1/BatchResponse.js';
export type { BatchResult, BatchResult__Output } from './generated/sessionraft/v1/BatchResult.js';
export type { CountRequest, CountRequest__Output } from './generated/sessionraft/v1/CountRequest.js';
export type { CountResponse, CountResponse__Output } from './generated/sessionraft/v1/CountResponse.js';
export type { CreateRequest, CreateRequest__Output } from './generated/sessionraft/v1/CreateRequest.js';
export type { CreateResponse, CreateResponse__Output } from './generated/sessionraft/v1/CreateResponse.js';
export type { DeleteByClientRequest, DeleteByClientRequest__Output } from './generated/sessionraft/v1/DeleteByClientRequest.js';
export type { DeleteByClientResponse, DeleteByClientResponse__Output } from './generated/sessionraft/v1/DeleteByClientResponse.js';
export type { DeleteRequest, DeleteRequest__Output } from './generated/sessionraft/v1/DeleteRequest.js';
export type { DeleteResponse, DeleteResponse__Output } from './generated/sessionraft/v1/DeleteResponse.js';
export type { Durability, Durability__Output } from './generated/sessionraft/v1/Durability.js';
export type { Error as WireError, Error__Output as WireError__Output } from './generated/sessionraft/v1/Error.js';
export type { GetRequest, GetRequest__Output } from './generated/sessionraft/v1/GetRequest.js';
export type { GetResponse, GetResponse__Output } from './generated/sessionraft/v1/GetResponse.js';
export type { ListRequest, ListRequest__Output } from './generated/sessionraft/v1/ListRequest.js';
export type { ListResponse, ListResponse__Output } from './generated/sessionraft/v1/ListResponse.js';
export type { Member, Member__Output } from './generated/sessionraft/v1/Member.js';
export type { MemberChangeResponse, MemberChangeResponse__Output } from './generated/sessionraft/v1/MemberChangeResponse.js';
export type { PromoteMemberRequest, PromoteMemberRequest__Output } from './generated/sessionraft/v1/PromoteMemberRequest.js';
export type { ReadConsistency, ReadConsistency__Output } from './generated/sessionraft/v1/ReadConsistency.js';
export type { RemoveMemberRequest, RemoveMemberRequest__Output } from './generated/sessionraft/v1/RemoveMemberRequest.js';
export type { RequestId, RequestId__Output } from './generated/sessionraft/v1/RequestId.js';
export type { Session, Session__Output } from './generated/sessionraft/v1/Session.js';
export type { SessionServiceClient, SessionServiceDefinition, SessionServiceHandlers } from './generated/sessionraft/v1/SessionService.js';
export type { StatusRequest, StatusRequest__Output } from './generated/sessionraft/v1/StatusRequest.js';
export type { StatusResponse, StatusResponse__Output } from './generated/sessionraft/v1/StatusResponse.js';
export type { TouchRequest, TouchRequest__Output } from './generated/sessionraft/v1/TouchRequest.js';
export type { TouchResponse, TouchResponse__Output } from './generated/sessionraft/v1/TouchResponse.js';
export type { TransferLeadershipRequest, TransferLeadershipRequest__Output } from './generated/sessionraft/v1/TransferLeadershipRequest.js';
export type { TransferLeadershipResponse, TransferLeadershipResponse__Output } from './generated/sessionraft/v1/TransferLeadershipResponse.js';
export type { UpdateMemberRequest, UpdateMemberRequest__Output } from './generated/sessionraft/v1/UpdateMemberRequest.js';
export type { UpdateRequest, UpdateRequest__Output } from './generated/sessionraft/v1/UpdateRequest.js';
export type { UpdateResponse, UpdateResponse__Output } from './generated/sessionraft/v1/UpdateResponse.js';
export type { WatchEvent, WatchEvent__Output } from './generated/sessionraft/v1/WatchEvent.js';
export type { WatchEventType, WatchEventType__Output } from './generated/sessionraft/v1/WatchEventType.js';
export type { WatchRequest, WatchRequest__Output } from './generated/sessionraft/v1/WatchRequest.js';
export type { WatchResponse, WatchResponse__Output } from './generated/sessionraft/v1/WatchResponse.js';
export type { RaftFrame, RaftFrame__Output } from './generated/sessionraft/raft/v1/RaftFrame.js';
export type { RaftFrameAck, RaftFrameAck__Output } from './generated/sessionraft/raft/v1/RaftFrameAck.js';
export type { RaftTransportClient, RaftTransportDefinition, RaftTransportHandlers } from './generated/sessionraft/raft/v1/RaftTransport.js';
export type { SnapshotAck, SnapshotAck__Output } from './generated/sessionraft/raft/v1/SnapshotAck.js';
export type { SnapshotChunk, SnapshotChunk__Output } from './generated/sessionraft/raft/v1/SnapshotChunk.js';
export type { SnapshotResumeReply, SnapshotResumeReply__Output } from './generated/sessionraft/raft/v1/SnapshotResumeReply.js';
export type { SnapshotResumeRequest, SnapshotResumeRequest__Output } from './generated/sessionraft/raft/v1/SnapshotResumeRequest.js';
export type { ProtoGrpcType as SessionProtoGrpcType } from './generated/session.js';
export type { ProtoGrpcType as RaftProtoGrpcType } from './generated/raft.js';

import type { CountResponse__Output } from './generated/sessionraft/v1/CountResponse.js';
import type { CreateResponse__Output } from './generated/sessionraft/v1/CreateResponse.js';
import type { DeleteByClientResponse__Output } from './generated/sessionraft/v1/DeleteByClientResponse.js';
import type { DeleteResponse__Output } from './generated/sessionraft/v1/DeleteResponse.js';
import type { GetResponse__Output } from './generated/sessionraft/v1/GetResponse.js';
import type { ListResponse__Output } from './generated/sessionraft/v1/ListResponse.js';
import type { TouchResponse__Output } from './generated/sessionraft/v1/TouchResponse.js';
import type { UpdateResponse__Output } from './generated/sessionraft/v1/UpdateResponse.js';

/** Each SessionService operation's response as decoded (client) and as built (server). */
export interface WireResponses {
  create: CreateResponse__Output;
  get: GetResponse__Output;
  update: UpdateResponse__Output;
  touch: TouchResponse__Output;
  delete: DeleteResponse__Output;
  list: ListResponse__Output;
  deleteByClient: DeleteByClientResponse__Output;
  count: CountResponse__Output;
}
