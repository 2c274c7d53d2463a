/**
 * One options object for a node, validated once and frozen. Every default is documented here
 * and shown by `sessionraft node --help`.
 */
import type { NodeId } from '../raft/index.js';
import type { Durability } from './backend.js';

export interface NodeOptions {
  /** This node's id: a positive integer, a key of `peers`. */
  readonly id: NodeId;
  /** Every node checks it on each peer connection: a node of another cluster is refused. */
  readonly clusterId: string;
  /** host:port for both the client API and the peer streams. */
  readonly listenAddress: string;
  /**
   * The members of a new cluster, this node included: id → host:port. Used once, when the data
   * holds no log: they become its first entries. Afterwards membership comes from the log; a
   * node joining a cluster passes none.
   */
  readonly peers: ReadonlyMap<NodeId, string>;
  /**
   * Addresses to reach until the log names the members: a joining node dials the members the
   * cluster told it about, so it can answer the leader's first messages.
   */
  readonly peerHints?: ReadonlyMap<NodeId, string>;
  /** A learner may be promoted when its log is at most this many entries behind the leader's. @default 1_000 */
  readonly promoteLagEntriesMax: number;
  readonly dataDir: string;
  /** @default 'sync' */
  readonly defaultDurability: Durability;
  /** @default 100 */
  readonly tickIntervalMs: number;
  /** @default 10 (1-2 s with the default tick) */
  readonly electionTimeoutTicks: number;
  /** @default 1 */
  readonly heartbeatIntervalTicks: number;
  /** Take a snapshot and compact the log after this many applied entries. @default 10_000 */
  readonly snapshotEntriesThreshold: number;
  /**
   * How often the leader proposes the expiry of due sessions. STALE reads judge expiry by the
   * log's clock, so this bounds how long one still shows a session past its expiry on an idle
   * cluster (any write advances that clock too). @default 1_000
   */
  readonly expirySweepIntervalMs: number;
  /** Sessions expired per sweep command. @default 1_000 */
  readonly expirySweepBatchMax: number;
  /** Idle TTL of a session created without one. @default 3_600_000 (1 hour) */
  readonly defaultTtlMs: number;
  /** Encoded size limit of a session's data. @default 65_536 */
  readonly dataBytesMax: number;
  /** Writes accepted but not yet answered. @default 20_000 */
  readonly pendingWritesMax: number;
  /** Reads waiting for a read index or an applied index. @default 20_000 */
  readonly pendingReadsMax: number;
  /** Raft messages received but not yet stepped. @default 50_000 */
  readonly inboxMessagesMax: number;
  /** Deadline of a request that brings none. @default 10_000 */
  readonly requestTimeoutMs: number;
}

export const NODE_DEFAULTS = Object.freeze({
  defaultDurability: 'sync' as Durability,
  tickIntervalMs: 100,
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 1,
  snapshotEntriesThreshold: 10_000,
  promoteLagEntriesMax: 1_000,
  expirySweepIntervalMs: 1_000,
  expirySweepBatchMax: 1_000,
  defaultTtlMs: 3_600_000,
  dataBytesMax: 65_536,
  pendingWritesMax: 20_000,
  pendingReadsMax: 20_000,
  inboxMessagesMax: 50_000,
  requestTimeoutMs: 10_000,
});

type Required = 'id' | 'clusterId' | 'listenAddress' | 'peers' | 'dataDir';
export type NodeOptionsInput = Pick<NodeOptions, Required> & Partial<Omit<NodeOptions, Required>>;

const ADDRESS = /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/;

function positiveInt(name: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer in [1, ${max}], got ${value}`);
  }
}

export function resolveNodeOptions(input: NodeOptionsInput): NodeOptions {
  const options: NodeOptions = { ...NODE_DEFAULTS, ...input };
  positiveInt('id', options.id);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(options.clusterId)) {
    throw new RangeError(`clusterId must be 1-64 characters of [A-Za-z0-9._-], got '${options.clusterId}'`);
  }
  if (!ADDRESS.test(options.listenAddress)) {
    throw new RangeError(`listenAddress must be host:port, got '${options.listenAddress}'`);
  }
  if (options.peers.size > 0 && !options.peers.has(options.id)) {
    throw new RangeError(`peers must include this node's id ${options.id}`);
  }
  for (const [peerId, address] of [...options.peers, ...(options.peerHints ?? [])]) {
    positiveInt('peer id', peerId);
    if (!ADDRESS.test(address)) throw new RangeError(`peer ${peerId}: address must be host:port, got '${address}'`);
  }
  if (options.defaultDurability !== 'sync' && options.defaultDurability !== 'async') {
    throw new RangeError(`defaultDurability must be 'sync' or 'async', got '${String(options.defaultDurability)}'`);
  }
  positiveInt('tickIntervalMs', options.tickIntervalMs, 10_000);
  positiveInt('electionTimeoutTicks', options.electionTimeoutTicks, 1_000);
  positiveInt('heartbeatIntervalTicks', options.heartbeatIntervalTicks, options.electionTimeoutTicks - 1);
  positiveInt('snapshotEntriesThreshold', options.snapshotEntriesThreshold);
  positiveInt('promoteLagEntriesMax', options.promoteLagEntriesMax);
  positiveInt('expirySweepIntervalMs', options.expirySweepIntervalMs);
  positiveInt('expirySweepBatchMax', options.expirySweepBatchMax, 100_000);
  positiveInt('defaultTtlMs', options.defaultTtlMs);
  positiveInt('dataBytesMax', options.dataBytesMax, 16 * 1024 * 1024);
  positiveInt('pendingWritesMax', options.pendingWritesMax);
  positiveInt('pendingReadsMax', options.pendingReadsMax);
  positiveInt('inboxMessagesMax', options.inboxMessagesMax);
  positiveInt('requestTimeoutMs', options.requestTimeoutMs);
  return Object.freeze({ ...options, peers: new Map(options.peers) });
}
