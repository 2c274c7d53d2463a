/**
 * proto/raft.proto, loaded once with @grpc/proto-loader, and the plain-object shapes of its
 * messages as proto-loader hands them out (longs as numbers, bytes as Buffers, defaults filled).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const RAFT_SERVICE_NAME = 'sessionraft.raft.v1.RaftTransport';

/** Call metadata keys carried by every peer call. */
export const METADATA_CLUSTER_ID = 'x-sessionraft-cluster-id';
export const METADATA_FROM_NODE = 'x-sessionraft-from-node';
export const METADATA_TO_NODE = 'x-sessionraft-to-node';
export const METADATA_SHARED_SETTINGS = 'x-sessionraft-shared-settings';

export interface RaftFrame {
  readonly clusterId: string;
  readonly from: number;
  readonly to: number;
  readonly messages: readonly Uint8Array[];
}

export interface RaftFrameAck {
  readonly nodeId: number;
  readonly clusterId: string;
}

export interface SnapshotChunk {
  readonly clusterId: string;
  readonly from: number;
  readonly to: number;
  readonly message: Uint8Array;
  readonly totalBytes: number;
  readonly data: Uint8Array;
}

export interface SnapshotAck {
  readonly bytesReceived: number;
}

export interface RaftServiceDefinition extends grpc.ServiceDefinition {
  readonly Stream: grpc.MethodDefinition<RaftFrame, RaftFrameAck>;
  readonly InstallSnapshot: grpc.MethodDefinition<SnapshotChunk, SnapshotAck>;
}

/** Walks up from this module to the package's proto/ folder (src/ under tsx, dist/src/ when built). */
export function raftProtoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const candidate = join(dir, 'proto', 'raft.proto');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`proto/raft.proto not found above ${dirname(fileURLToPath(import.meta.url))}`);
}

let cached: RaftServiceDefinition | undefined;

/** The RaftTransport service definition (for server.addService and generic clients). */
export function raftServiceDefinition(): RaftServiceDefinition {
  if (cached !== undefined) return cached;
  const packageDefinition = protoLoader.loadSync(raftProtoPath(), {
    keepCase: false,
    longs: Number,
    enums: String,
    bytes: Buffer,
    defaults: true,
    oneofs: true,
  });
  const service = packageDefinition[RAFT_SERVICE_NAME];
  if (service === undefined || !('Stream' in service) || !('InstallSnapshot' in service)) {
    throw new Error(`${RAFT_SERVICE_NAME} with Stream and InstallSnapshot not found in raft.proto`);
  }
  cached = service as unknown as RaftServiceDefinition;
  return cached;
}
