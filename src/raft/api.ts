/**
 * The public surface of the consensus core. `RaftCore` (core.ts) implements `RaftNode`; the
 * runtime (src/node/) and the simulation (test/sim/) program against this interface only.
 */
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  LogIndex,
  Message,
  NodeId,
  Ready,
  Role,
  SnapshotMeta,
  Term,
} from './types.js';

/**
 * Test-only switches that plant known Raft bugs, so the simulation can prove it catches them.
 * Never set outside tests; the core logs nothing about them.
 */
export interface PlantedBugs {
  /** Commit a previous-term entry by counting replicas (Raft paper Figure 8). */
  readonly commitPreviousTermByCount?: boolean;
  /**
   * No no-op entry at the start of a term; ReadIndex then does not wait for one and reads at the
   * commit index (as etcd does) instead of the last index, so the missing no-op shows in reads.
   */
  readonly noNoopAtTermStart?: boolean;
  /** The vote is not part of the HardState handed out for persisting. */
  readonly voteNotPersisted?: boolean;
  /** ReadIndex answers at once with the commit index, without a heartbeat quorum round. */
  readonly readIndexWithoutQuorum?: boolean;
  /** Conf changes accepted back to back, before the previous one commits / own-term commit. */
  readonly unsafeMembershipChange?: boolean;
}

export interface RaftOptions {
  readonly id: NodeId;
  /** Ticks without hearing a leader before a follower campaigns; randomized in [t, 2t). @default 10 */
  readonly electionTimeoutTicks?: number;
  /** @default 1 */
  readonly heartbeatIntervalTicks?: number;
  /** @default true */
  readonly preVote?: boolean;
  /** @default true */
  readonly checkQuorum?: boolean;
  /** Append messages in flight per follower in replicate state. @default 256 */
  readonly inflightMessagesMax?: number;
  /** Bytes of entries in flight per follower. @default 8 MiB */
  readonly inflightBytesMax?: number;
  /** Bytes of entries in one append message (at least one entry is always sent). @default 1 MiB */
  readonly appendBatchBytesMax?: number;
  /** Entries appended by the leader but not yet committed; beyond it propose() is refused. @default 10_000 */
  readonly uncommittedEntriesMax?: number;
  /** Pending read-index requests. @default 10_000 */
  readonly pendingReadsMax?: number;
  /**
   * A follower sends a read-index request again when the leader has not answered it within this
   * many ticks. @default half the election timeout, rounded up
   */
  readonly readIndexRetryTicks?: number;
  /** Seeded PRNG in [0, 1). The core never calls Math.random. */
  readonly random: () => number;
  readonly plantedBugs?: PlantedBugs;
}

/** What storage held at start-up. `entries` follow `snapshot.index` (or 0) without holes. */
export interface RaftInitialState {
  readonly hardState: HardState;
  readonly snapshot?: SnapshotMeta;
  readonly entries: readonly Entry[];
  /** Membership when neither a snapshot nor a conf entry says otherwise (bootstrap). */
  readonly bootstrapConfState: ConfState;
  /** Index the state machine has applied durably; committed entries after it are re-handed out. */
  readonly applied: LogIndex;
}

export type ProposeResult =
  | { readonly ok: true; readonly index: LogIndex; readonly term: Term }
  | {
      readonly ok: false;
      readonly reason: 'notLeader' | 'transferring' | 'overloaded' | 'confChangePending';
      readonly leader: NodeId;
    };

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface PeerStatus {
  readonly id: NodeId;
  readonly voter: boolean;
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: ProgressState;
  readonly recentActive: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly firstIndex: LogIndex;
  readonly lastIndex: LogIndex;
  readonly confState: ConfState;
  /** Only on the leader. */
  readonly peers: readonly PeerStatus[];
  readonly transferee: NodeId;
}

export interface RaftNode {
  tick(): void;
  step(message: Message): void;
  propose(data: Uint8Array): ProposeResult;
  proposeConfChange(change: ConfChange): ProposeResult;
  /** The configuration in effect (the latest conf entry in the log, committed or not). */
  configuration(): ConfState;
  /** The answer arrives as a ReadState (or in droppedReads) in a later Ready. */
  readIndex(context: Uint8Array): void;
  transferLeadership(to: NodeId): void;
  /**
   * The state machine took a snapshot at `index` (≤ applied): entries up to it may be dropped.
   * Returns the snapshot's meta (term and membership at `index`) for the runtime to store.
   */
  compact(index: LogIndex): SnapshotMeta;
  reportUnreachable(peer: NodeId): void;
  reportSnapshot(peer: NodeId, ok: boolean): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready): void;
  status(): RaftStatus;
}
