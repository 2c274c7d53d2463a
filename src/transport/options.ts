/**
 * Options of GrpcTransport: documented defaults, validated once (RangeError), frozen.
 */
import { constants as bufferConstants } from 'node:buffer';
import { pino, type Logger } from 'pino';
import type { NodeId } from '../raft/index.js';

const MiB = 1024 * 1024;

export interface GrpcTransportOptions {
  /** This node. A positive integer. */
  readonly nodeId: NodeId;
  /** Every node of one cluster has the same id; peers with another id are refused. 1-128 chars of [A-Za-z0-9._:-]. */
  readonly clusterId: string;
  /**
   * Settings every node of the cluster must share because they change what applying an entry
   * does (e.g. "dataBytesMax=65536,..."). Sent when a call opens and compared like the cluster
   * id: a peer with other settings is refused, so replicas never diverge over them. @default ''
   */
  readonly sharedSettings?: string;
  /** Peer node id → gRPC address (`host:port`). Must not contain `nodeId`. @default empty */
  readonly peers?: ReadonlyMap<NodeId, string>;
  /** Messages waiting per peer; beyond it messages are dropped and the peer reported unreachable. @default 4096 */
  readonly sendQueueMessagesMax?: number;
  /** Encoded bytes waiting per peer; same overflow rule. @default 64 MiB */
  readonly sendQueueBytesMax?: number;
  /** gRPC max send/receive message length: one frame (and so one encoded message) fits in it. @default 16 MiB */
  readonly messageBytesMax?: number;
  /** Data bytes per snapshot chunk. @default 1 MiB (less if messageBytesMax is under 1 MiB + 8 KiB) */
  readonly snapshotChunkBytes?: number;
  /** Largest snapshot this node accepts from a peer. @default 1 GiB */
  readonly snapshotBytesMax?: number;
  /** Snapshots being received at once (each holds up to snapshotBytesMax in memory). @default 2 */
  readonly snapshotsReceivingMax?: number;
  /** Deadline of one snapshot transfer; past it the transfer fails and is reported so. @default 300_000 */
  readonly snapshotTimeoutMs?: number;
  /** First reconnect delay after a stream fails; doubles per failure. @default 50 */
  readonly reconnectBackoffInitialMs?: number;
  /** @default 2000 */
  readonly reconnectBackoffMaxMs?: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. @default 0.2 */
  readonly reconnectJitterRatio?: number;
  /** A stream not accepted (handshake ack) within this time is abandoned and retried. @default 5000 */
  readonly handshakeTimeoutMs?: number;
  /** HTTP/2 keepalive ping interval on peer channels: finds dead peers behind silent networks. @default 10_000 */
  readonly keepaliveTimeMs?: number;
  /** @default 5000 */
  readonly keepaliveTimeoutMs?: number;
  /** Inbound peer streams open at once on this node. @default 256 */
  readonly inboundStreamsMax?: number;
  /** @default a silent logger */
  readonly logger?: Logger;
}

export interface ResolvedTransportOptions {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly sharedSettings: string;
  readonly peers: ReadonlyMap<NodeId, string>;
  readonly sendQueueMessagesMax: number;
  readonly sendQueueBytesMax: number;
  readonly messageBytesMax: number;
  readonly snapshotChunkBytes: number;
  readonly snapshotBytesMax: number;
  readonly snapshotsReceivingMax: number;
  readonly snapshotTimeoutMs: number;
  readonly reconnectBackoffInitialMs: number;
  readonly reconnectBackoffMaxMs: number;
  readonly reconnectJitterRatio: number;
  readonly handshakeTimeoutMs: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly inboundStreamsMax: number;
  readonly logger: Logger;
}

export const TRANSPORT_DEFAULTS = Object.freeze({
  sharedSettings: '',
  sendQueueMessagesMax: 4096,
  sendQueueBytesMax: 64 * MiB,
  messageBytesMax: 16 * MiB,
  snapshotChunkBytes: 1 * MiB,
  snapshotBytesMax: 1024 * MiB,
  snapshotsReceivingMax: 2,
  snapshotTimeoutMs: 300_000,
  reconnectBackoffInitialMs: 50,
  reconnectBackoffMaxMs: 2_000,
  reconnectJitterRatio: 0.2,
  handshakeTimeoutMs: 5_000,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5_000,
  inboundStreamsMax: 256,
});

/**
 * Room kept in every gRPC message for the frame's own fields and the per-message protobuf
 * framing; an encoded raft message may use the rest.
 */
export const FRAME_OVERHEAD_BYTES = 4096;
/** Protobuf tag + length prefix of one `bytes` item, at most. */
export const FRAME_ITEM_OVERHEAD_BYTES = 8;

const CLUSTER_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export function resolveTransportOptions(options: GrpcTransportOptions): ResolvedTransportOptions {
  const messageBytesMax = options.messageBytesMax ?? TRANSPORT_DEFAULTS.messageBytesMax;
  const o = {
    ...TRANSPORT_DEFAULTS,
    // The default chunk shrinks to fit a smaller messageBytesMax; an explicit one must fit.
    snapshotChunkBytes: Math.min(TRANSPORT_DEFAULTS.snapshotChunkBytes, messageBytesMax - 2 * FRAME_OVERHEAD_BYTES),
    ...withoutUndefined(options),
    nodeId: options.nodeId,
    clusterId: options.clusterId,
  };
  checkNodeId(o.nodeId, 'nodeId');
  if (typeof o.clusterId !== 'string' || !CLUSTER_ID_PATTERN.test(o.clusterId)) {
    throw new RangeError(`clusterId must be 1-128 characters of [A-Za-z0-9._:-]; got ${JSON.stringify(o.clusterId)}`);
  }
  const peers = new Map(options.peers ?? []);
  for (const [id, address] of peers) checkPeer(o.nodeId, id, address);
  checkInt('sendQueueMessagesMax', o.sendQueueMessagesMax, 1);
  checkInt('messageBytesMax', o.messageBytesMax, 64 * 1024);
  checkInt('sendQueueBytesMax', o.sendQueueBytesMax, o.messageBytesMax);
  checkInt('snapshotChunkBytes', o.snapshotChunkBytes, 1, o.messageBytesMax - 2 * FRAME_OVERHEAD_BYTES);
  checkInt('snapshotBytesMax', o.snapshotBytesMax, 0, bufferConstants.MAX_LENGTH);
  checkInt('snapshotsReceivingMax', o.snapshotsReceivingMax, 1);
  checkInt('snapshotTimeoutMs', o.snapshotTimeoutMs, 1);
  checkInt('reconnectBackoffInitialMs', o.reconnectBackoffInitialMs, 1);
  checkInt('reconnectBackoffMaxMs', o.reconnectBackoffMaxMs, o.reconnectBackoffInitialMs);
  if (!(o.reconnectJitterRatio >= 0 && o.reconnectJitterRatio < 1)) {
    throw new RangeError(`reconnectJitterRatio must be in [0, 1); got ${o.reconnectJitterRatio}`);
  }
  checkInt('handshakeTimeoutMs', o.handshakeTimeoutMs, 1);
  checkInt('keepaliveTimeMs', o.keepaliveTimeMs, 1);
  checkInt('keepaliveTimeoutMs', o.keepaliveTimeoutMs, 1);
  checkInt('inboundStreamsMax', o.inboundStreamsMax, 1);
  const logger = options.logger ?? pino({ level: 'silent' });
  return Object.freeze({ ...o, peers, logger });
}

export function checkNodeId(id: unknown, what: string): asserts id is NodeId {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    throw new RangeError(`${what} must be a positive integer; got ${String(id)}`);
  }
}

export function checkPeer(self: NodeId, id: NodeId, address: string): void {
  checkNodeId(id, 'peer id');
  if (id === self) throw new RangeError(`peers must not contain this node's own id ${self}`);
  if (typeof address !== 'string' || address.length === 0 || /\s/.test(address)) {
    throw new RangeError(`peer ${id} has an invalid address ${JSON.stringify(address)}; expected host:port`);
  }
}

function checkInt(name: string, value: number, min: number, max = 2 ** 31 - 1): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}]; got ${value}`);
  }
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
