/**
 * What the gRPC services (src/server/) need from a node. SessionNode implements it; tests may use a fake.
 * Errors thrown are NodeError subclasses (src/node/errors.ts).
 */
import type { LogIndex, NodeId, RaftStatus } from '../raft/index.js';
import type { CommandResult, RequestId, SessionCommand, SessionQueries } from '../session/index.js';

/** SYNC: answered after quorum commit and leader apply. ASYNC: after the leader's fsync. */
export type Durability = 'sync' | 'async';
/** LINEARIZABLE: ReadIndex. LEASE: leader lease under check-quorum. STALE: this node's state. */
export type ReadConsistency = 'linearizable' | 'lease' | 'stale';

export interface CallOptions {
  readonly signal?: AbortSignal;
  readonly deadlineMs?: number;
}

export interface WriteOptions extends CallOptions {
  /** @default the node's configured default durability */
  readonly durability?: Durability;
  readonly requestId?: RequestId;
}

export interface ReadOptions extends CallOptions {
  /** @default 'linearizable' */
  readonly consistency?: ReadConsistency;
  /** Wait until this node has applied at least this index. @default 0 */
  readonly minIndex?: LogIndex;
}

export interface WriteOutcome {
  readonly index: LogIndex;
  readonly result: CommandResult;
  /** The durability the write was acknowledged with. */
  readonly durability: Durability;
  /**
   * The command as it entered the log, on an ASYNC answer (given before apply). A retry joined to
   * an earlier request with the same request id gets the earlier request's command.
   */
  readonly proposed?: SessionCommand;
}

export interface MemberInfo {
  readonly id: NodeId;
  readonly address: string;
  readonly voter: boolean;
  readonly matchIndex: LogIndex;
}

export interface NodeStatus {
  readonly raft: RaftStatus;
  readonly members: readonly MemberInfo[];
  /** Hex digest of the state machine at `appliedIndex`: equal on every node at the same index. */
  readonly stateDigest: string;
  readonly appliedIndex: LogIndex;
  readonly clusterId: string;
}

/** What an operator may change, one member at a time. */
export type MemberChange =
  | { readonly type: 'add'; readonly id: NodeId; readonly address: string; readonly learner: boolean }
  | { readonly type: 'promote'; readonly id: NodeId }
  | { readonly type: 'remove'; readonly id: NodeId }
  | { readonly type: 'setAddress'; readonly id: NodeId; readonly address: string };

export interface SessionBackend {
  /** Proposes a command stamped by this node (it must lead); resolves per durability. */
  write(command: SessionCommand, options?: WriteOptions): Promise<WriteOutcome>;
  /**
   * Runs `query` against applied state once the consistency and minIndex allow. `readTimeMs` is
   * the time at which the read judges expiry (sessions with expiresAtMs <= it are gone): ordered
   * with the log, so no later write can find alive what this read reports expired.
   */
  read<T>(query: (view: SessionQueries, appliedIndex: LogIndex, readTimeMs: number) => T, options?: ReadOptions): Promise<T>;
  status(): NodeStatus;
  /** Leader only: proposes one membership change; resolves with its index once applied here. */
  changeMembership(change: MemberChange, options?: CallOptions): Promise<LogIndex>;
  /** Leader only: hands leadership to voter `target`; resolves once it leads. */
  transferLeadership(target: NodeId, options?: CallOptions): Promise<void>;
}
