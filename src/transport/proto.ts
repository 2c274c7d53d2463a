/**
 * The RaftTransport service of proto/raft.proto (found and loaded by src/proto/), and the
 * plain-object shapes of its messages as proto-loader hands them out (longs as numbers, bytes
 * as Buffers, defaults filled).
 */
import type * as grpc from '@grpc/grpc-js';
import {
  loadProtos,
  RAFT_PROTO_FILE,
  serviceDefinition,
  type RaftFrame__Output,
  type RaftFrameAck__Output,
  type SnapshotAck__Output,
  type SnapshotChunk__Output,
  type SnapshotResumeReply__Output,
  type SnapshotResumeRequest__Output,
} from '../proto/index.js';

export const RAFT_SERVICE_NAME = 'sessionraft.raft.v1.RaftTransport';

/** Call metadata keys carried by every peer call. */
export const METADATA_CLUSTER_ID = 'x-sessionraft-cluster-id';
export const METADATA_FROM_NODE = 'x-sessionraft-from-node';
export const METADATA_TO_NODE = 'x-sessionraft-to-node';
export const METADATA_SHARED_SETTINGS = 'x-sessionraft-shared-settings';

// The messages of raft.proto: the generated types (src/proto/), read-only, with bytes as
// Uint8Array, which this transport sends and which a decoded Buffer is.

export type RaftFrame = Readonly<Omit<RaftFrame__Output, 'messages'>> & { readonly messages: readonly Uint8Array[] };
export type RaftFrameAck = Readonly<RaftFrameAck__Output>;
export type SnapshotChunk = Readonly<Omit<SnapshotChunk__Output, 'message' | 'data' | 'dataDigest'>> & {
  readonly message: Uint8Array;
  readonly data: Uint8Array;
  readonly dataDigest: Uint8Array;
};
export type SnapshotAck = Readonly<SnapshotAck__Output>;
export type SnapshotResumeRequest = Readonly<Omit<SnapshotResumeRequest__Output, 'dataDigest'>> & { readonly dataDigest: Uint8Array };
export type SnapshotResumeReply = Readonly<SnapshotResumeReply__Output>;

export interface RaftServiceDefinition extends grpc.ServiceDefinition {
  readonly Stream: grpc.MethodDefinition<RaftFrame, RaftFrameAck>;
  readonly InstallSnapshot: grpc.MethodDefinition<SnapshotChunk, SnapshotAck>;
  readonly SnapshotResume: grpc.MethodDefinition<SnapshotResumeRequest, SnapshotResumeReply>;
}

let cached: RaftServiceDefinition | undefined;

/** The RaftTransport service definition (for server.addService and generic clients). */
export function raftServiceDefinition(): RaftServiceDefinition {
  if (cached !== undefined) return cached;
  const service = serviceDefinition(loadProtos([RAFT_PROTO_FILE]), RAFT_SERVICE_NAME);
  if (!('Stream' in service) || !('InstallSnapshot' in service) || !('SnapshotResume' in service)) {
    throw new Error(`${RAFT_SERVICE_NAME} with Stream, InstallSnapshot and SnapshotResume not found in ${RAFT_PROTO_FILE}`);
  }
  cached = service as unknown as RaftServiceDefinition;
  return cached;
}
