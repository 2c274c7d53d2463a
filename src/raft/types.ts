/**
 * The vocabulary of the consensus core. Everything here is plain data: it crosses the
 * boundary to storage/ (persisted), transport/ (sent, msgpack-encoded) and the simulation.
 *
 * Branded numbers keep quantities that must not mix apart: a Term is never a LogIndex.
 */

export type Term = number & { readonly __brand: 'Term' };
export type LogIndex = number & { readonly __brand: 'LogIndex' };
/** A node id is a positive integer, unique in the cluster and never reused. 0 means "none". */
export type NodeId = number & { readonly __brand: 'NodeId' };

export const NO_NODE = 0 as NodeId;

export const term = (n: number): Term => n as Term;
export const logIndex = (n: number): LogIndex => n as LogIndex;
export const nodeId = (n: number): NodeId => n as NodeId;

export type EntryType = 'normal' | 'confChange';

/**
 * One log entry. `data` is opaque to the core for 'normal' entries (an empty array is the
 * leader's no-op at the start of its term); for 'confChange' it is an encoded ConfChange
 * (see encodeConfChange in confchange.ts).
 */
export interface Entry {
  readonly term: Term;
  readonly index: LogIndex;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be on stable storage before any message of the same Ready is sent. */
export interface HardState {
  readonly term: Term;
  /** Who this node voted for in `term`, NO_NODE if nobody. */
  readonly vote: NodeId;
  readonly commit: LogIndex;
}

/** Cluster membership. Voters count toward quorums; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /**
   * Where each member is reached (host:port), for members whose conf change named one. The core
   * never dials anyone: it carries addresses so that membership, addresses included, lives in
   * the log and in snapshots rather than in flags (as hashicorp/raft's Configuration does).
   */
  readonly addresses?: Readonly<Record<number, string>>;
  /** Ids removed from the cluster, sorted: never members again (a returning node has forgotten its votes). */
  readonly removed?: readonly NodeId[];
}

/**
 * A change of one server at a time (Raft dissertation §4.1). The core accepts a new one only
 * when the previous one is committed and the leader has committed an entry of its own term.
 */
export type ConfChange =
  | { readonly type: 'addVoter'; readonly node: NodeId; readonly address?: string }
  | { readonly type: 'addLearner'; readonly node: NodeId; readonly address?: string }
  | { readonly type: 'removeNode'; readonly node: NodeId }
  /** A member moved: only its address changes (no effect on quorums). */
  | { readonly type: 'setAddress'; readonly node: NodeId; readonly address: string };

/** Identifies the state captured by a snapshot: everything up to and including `index`. */
export interface SnapshotMeta {
  readonly index: LogIndex;
  readonly term: Term;
  readonly confState: ConfState;
}

/**
 * A snapshot as it travels. The core never looks inside `data`; it is empty in a message the
 * core emits: the runtime's transport sends the latest stored snapshot (at an index ≥
 * meta.index) from its file, in chunks, and delivers a received one with empty data too (the
 * data waits, verified, in a staged file the runtime takes).
 */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export type MessageType =
  | 'append' // leader → follower: entries after (logTerm, index); carries commit
  | 'appendResponse' // follower → leader: success (index = last matched) or reject (+hint)
  | 'heartbeat' // leader → follower: carries commit (clamped to the follower's match) and a read context
  | 'heartbeatResponse'
  | 'vote'
  | 'voteResponse'
  | 'preVote'
  | 'preVoteResponse'
  | 'snapshot' // leader → follower: install this snapshot
  | 'readIndex' // follower → leader: please confirm a read index for `context`
  | 'readIndexResponse' // leader → follower: `index` is safe to read at for `context`
  | 'timeoutNow' // leader → transfer target: campaign now, ignoring the lease
  | 'transferLeader'; // follower → leader: forward of a transferLeadership request

/**
 * One message between peers. A single shape with optional fields (as etcd's raftpb.Message)
 * keeps encoding trivial; each `type` documents which fields it uses.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term; 0 for readIndex forwards (a local message class in etcd). */
  readonly term: Term;
  /** append: term of the entry before `entries`; vote/preVote: candidate's last log term. */
  readonly logTerm?: Term;
  /** append: index of the entry before `entries`; vote: candidate's last index; responses: see core. */
  readonly index?: LogIndex;
  readonly entries?: readonly Entry[];
  readonly commit?: LogIndex;
  readonly reject?: boolean;
  /** appendResponse reject: the follower's hint for fast backtracking. */
  readonly rejectHint?: { readonly index: LogIndex; readonly term: Term };
  readonly snapshot?: Snapshot;
  /** readIndex / heartbeat context: an opaque request id chosen by the runtime. */
  readonly context?: Uint8Array;
  /** vote: set when this campaign comes from a leadership transfer (bypasses stickiness). */
  readonly transfer?: boolean;
}

/** A linearizable read is safe once the state machine has applied `index`. */
export interface ReadState {
  readonly index: LogIndex;
  readonly context: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state that the runtime may show (status RPCs, logs); never persisted. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/**
 * Everything the runtime must do, in this order:
 *  1. persist `snapshot` (if any), `entries` (append, replacing any conflicting suffix on disk)
 *     and `hardState` (if any), durably, in one batch;
 *  2. send `messages` (only after 1: they may promise what was just persisted);
 *  3. apply `committed` entries to the state machine, in order;
 *  4. hand out `readStates` to their waiters once applied ≥ their index;
 *  5. call `advance(ready)`.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly messages: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Contexts of read-index requests the core could not serve (no leader, leader changed): fail them now. */
  readonly droppedReads?: readonly Uint8Array[];
}
