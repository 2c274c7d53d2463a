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
  /** Replaces the whole state atomically, in one batch: small states only (tests, tools). */
  replaceAll(entries: Iterable<readonly [string, Uint8Array]>, appliedIndex: LogIndex): Promise<void>;
  /**
   * A snapshot install in bounded batches (the state is never one batch): beginInstall() writes
   * the install-in-progress marker and clears the state (synced); putBatch() adds pairs (not
   * synced); endInstall() writes the applied index and removes the marker in one synced batch,
   * last. A crash in between leaves the marker: installing() says so at the next open, and the
   * node installs again from its snapshot file; a partial state is never served.
   */
  beginInstall(snapshotIndex: LogIndex): Promise<void>;
  putBatch(pairs: readonly (readonly [string, Uint8Array])[]): Promise<void>;
  endInstall(appliedIndex: LogIndex): Promise<void>;
  /** An install was begun and never ended (a crash in between). */
  installing(): Promise<boolean>;
  /** Every key-value pair in key order (start-up load). */
  entries(): AsyncIterable<readonly [string, Uint8Array]>;
  close(): Promise<void>;
}

/** A stored snapshot, without its data: what a sender announces and a reader checks against. */
export interface SnapshotInfo {
  readonly meta: SnapshotMeta;
  /** Bytes of data. */
  readonly bytes: number;
  /** SHA-256 of the data (32 bytes). */
  readonly digest: Uint8Array;
}

/**
 * A snapshot being written, its data first (in chunks, as it is read from the state or received),
 * its meta last: an own snapshot's meta is known only once the core compacted to it.
 */
export interface SnapshotWriter {
  /** Appends the next bytes of data. Do not mutate `chunk` until it resolves. */
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  readonly bytes: number;
  /** SHA-256 of the data written so far. */
  digest(): Uint8Array;
  /**
   * Makes it the stored snapshot, durably (fsynced before it resolves), and drops older ones.
   * Throws if `meta` is older than the stored snapshot.
   */
  commit(meta: SnapshotMeta): Promise<SnapshotInfo>;
  /** Drops it. Idempotent; nothing after a commit. */
  abort(): Promise<void>;
}

/** Snapshot files: the latest one is kept, written durably (fsync + rename). */
export interface SnapshotStore {
  /** A writer for a new snapshot; nothing is stored until its commit. */
  create(): SnapshotWriter;
  /** The stored snapshot's meta, size and digest (its data is not read whole). */
  latestInfo(): Promise<SnapshotInfo | undefined>;
  /**
   * The data of the stored snapshot `info`, in chunks of about `chunkBytes` (1 MiB by default),
   * hashed as they stream: a digest mismatch throws StorageCorruptionError after the last
   * chunk, so a consumer must not act on the data before the iteration ends. Throws a plain
   * Error if that snapshot is no longer stored (a newer one replaced it). From `fromOffset` on
   * (a resumed transfer): the bytes before it are read and hashed, not handed out.
   */
  readChunks(info: SnapshotInfo, chunkBytes?: number, fromOffset?: number): AsyncIterable<Uint8Array>;
  /**
   * Holds a received snapshot (every byte written and verified, not committed) until the node
   * takes it for the message the transport delivers; a newer one for the same (index, term)
   * replaces it. Process memory only: a restart forgets staged snapshots.
   */
  stage(meta: SnapshotMeta, writer: SnapshotWriter): void;
  /** The writer staged for exactly this (index, term), removed from the stage; older ones are aborted. */
  takeStaged(meta: SnapshotMeta): SnapshotWriter | undefined;
  /** create() + one write + commit(): small snapshots (tests, tools). */
  save(meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  /** The stored snapshot with its data in one buffer: small snapshots only (tests, tools). */
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
