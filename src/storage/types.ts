/**
 * Storage contracts (openraft-style split): the Raft log + hard state, and the state machine
 * store. Each has a LevelDB implementation and an in-memory one; one conformance suite
 * (test/unit/storage/conformance.ts) runs against both.
 */
import type { Entry, HardState, LogIndex, SnapshotMeta } from '../raft/index.js';

export interface LogUpdate {
  readonly hardState?: HardState;
  /**
   * Entries to append. The first one's index may be ≤ the last stored index: every stored
   * entry from that index on is replaced (a follower truncating a conflicting suffix).
   */
  readonly entries: readonly Entry[];
  /** A snapshot was installed: every entry ≤ snapshot.index is dropped, the log restarts after it. */
  readonly snapshot?: SnapshotMeta;
}

export interface LoadedLog {
  readonly hardState: HardState;
  readonly snapshot?: SnapshotMeta;
  /** Contiguous, starting at (snapshot?.index ?? 0) + 1. */
  readonly entries: Entry[];
}

/** The Raft log, hard state and snapshot metadata. */
export interface RaftLogStore {
  load(): Promise<LoadedLog>;
  /** Durable (fsynced) when it resolves; one atomic batch however many entries (group commit). */
  save(update: LogUpdate): Promise<void>;
  /** Drops entries ≤ meta.index and records meta as the latest snapshot. Need not be synced. */
  compact(meta: SnapshotMeta): Promise<void>;
  close(): Promise<void>;
}

export type StateOp =
  | { readonly type: 'put'; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: string };

/**
 * The state machine's durable copy: an ordered key-value space plus the applied index, which is
 * written in the same atomic batch as the effects of the entries it covers.
 */
export interface StateStore {
  appliedIndex(): Promise<LogIndex>;
  /** Atomic: ops and appliedIndex land together or not at all. Not fsynced (the log is). */
  commit(ops: readonly StateOp[], appliedIndex: LogIndex): Promise<void>;
  /** Replaces the whole state (snapshot install) atomically. */
  replaceAll(entries: Iterable<readonly [string, Uint8Array]>, appliedIndex: LogIndex): Promise<void>;
  /** Every key-value pair in key order (start-up load). */
  entries(): AsyncIterable<readonly [string, Uint8Array]>;
  close(): Promise<void>;
}

/** Snapshot files: the latest one is kept, written durably (fsync + rename). */
export interface SnapshotStore {
  save(meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  latest(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | undefined>;
}

/** One node's storage: the three stores, opened and closed together. */
export interface Storage {
  readonly log: RaftLogStore;
  readonly state: StateStore;
  readonly snapshots: SnapshotStore;
  /** Closes every store (waiting for the writes already queued). Idempotent. */
  close(): Promise<void>;
}
