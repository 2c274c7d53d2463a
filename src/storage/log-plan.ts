/**
 * The rules of the Raft log store, as pure functions over its bounds, so that the LevelDB and
 * the in-memory stores cannot drift apart: both turn a plan into deletes and puts.
 */
import type { Entry, HardState, SnapshotMeta } from '../raft/index.js';
import { assert } from './errors.js';
import type { LogUpdate } from './types.js';

/** What a log store keeps in memory about what it has stored. */
export interface LogBounds {
  /** Index of the latest snapshot (0 if none): the log holds no entry ≤ it. */
  readonly snapshotIndex: number;
  /** Index of the last stored entry; equals snapshotIndex when the log is empty. */
  readonly lastIndex: number;
  readonly hardState: HardState;
}

export interface LogPlan {
  /** Inclusive ranges [from, to] of stored indexes to delete, applied before the puts. */
  readonly deletes: ReadonlyArray<readonly [number, number]>;
  readonly bounds: LogBounds;
}

/**
 * Plans a save. `termAtSnapshotIndex` is the term of the stored entry at update.snapshot.index
 * (undefined if there is none): on a snapshot install the suffix after it survives only if that
 * entry matches the snapshot (Raft §7: "if the follower has an entry that matches..."),
 * otherwise the whole log is discarded.
 */
export function planSave(bounds: LogBounds, update: LogUpdate, termAtSnapshotIndex: number | undefined): LogPlan {
  const deletes: Array<readonly [number, number]> = [];
  let { snapshotIndex, lastIndex } = bounds;
  if (update.snapshot) {
    const snap = update.snapshot;
    assertSnapshotMeta(snap);
    assert(snap.index > snapshotIndex, () => `snapshot install at ${snap.index} is not after the stored snapshot ${snapshotIndex}`);
    const suffixMatches = termAtSnapshotIndex === snap.term;
    const dropThrough = suffixMatches ? snap.index : lastIndex;
    if (dropThrough > snapshotIndex) deletes.push([snapshotIndex + 1, dropThrough]);
    lastIndex = suffixMatches ? lastIndex : snap.index;
    snapshotIndex = snap.index;
  }
  if (update.entries.length > 0) lastIndex = planEntries(update.entries, snapshotIndex, lastIndex, bounds, deletes);
  const hardState = update.hardState ?? bounds.hardState;
  assertHardState(bounds.hardState, hardState, lastIndex);
  return { deletes, bounds: { snapshotIndex, lastIndex, hardState } };
}

/** Validates the new entries, records the suffix they cut off, and returns the new last index. */
function planEntries(
  entries: readonly Entry[],
  snapshotIndex: number,
  lastIndex: number,
  before: LogBounds,
  deletes: Array<readonly [number, number]>,
): number {
  assertContiguous(entries);
  const first = entries[0]!.index;
  const last = entries[entries.length - 1]!.index;
  assert(first > snapshotIndex, () => `entries start at ${first}, inside the snapshot (index ${snapshotIndex})`);
  assert(first <= lastIndex + 1, () => `entries start at ${first}, leaving a hole after the last stored entry ${lastIndex}`);
  if (last < lastIndex) {
    // A conflicting suffix longer than its replacement: the tail beyond the new entries goes.
    assert(
      last >= before.hardState.commit,
      () => `truncating the log to ${last} would delete committed entries (commit ${before.hardState.commit})`,
    );
    deletes.push([last + 1, lastIndex]);
  }
  return last;
}

function assertContiguous(entries: readonly Entry[]): void {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    assert(Number.isSafeInteger(entry.index) && entry.index >= 1, () => `entry index must be an integer ≥ 1, got ${entry.index}`);
    assert(Number.isSafeInteger(entry.term) && entry.term >= 0, () => `entry ${entry.index} has term ${entry.term}`);
    assert(entry.type === 'normal' || entry.type === 'confChange', () => `entry ${entry.index} has type ${String(entry.type)}`);
    assert(entry.data instanceof Uint8Array, () => `entry ${entry.index} data must be a Uint8Array`);
    if (i === 0) continue;
    const previous = entries[i - 1]!;
    assert(entry.index === previous.index + 1, () => `entries not contiguous: ${previous.index} then ${entry.index}`);
    assert(entry.term >= previous.term, () => `entry terms go back: ${previous.term} at ${previous.index}, ${entry.term} at ${entry.index}`);
  }
}

function assertHardState(before: HardState, after: HardState, lastIndex: number): void {
  for (const field of ['term', 'vote', 'commit'] as const) {
    const value = after[field];
    assert(Number.isSafeInteger(value) && value >= 0, () => `hard state ${field} must be an integer ≥ 0, got ${value}`);
  }
  assert(after.term >= before.term, () => `hard state term goes back from ${before.term} to ${after.term}`);
  assert(after.commit <= lastIndex, () => `hard state commit ${after.commit} is beyond the last entry ${lastIndex}`);
}

/**
 * Plans a compaction; undefined when `meta` is not newer than the stored snapshot (nothing to
 * do). `termAtMetaIndex` is the stored entry's term at meta.index.
 */
export function planCompact(bounds: LogBounds, meta: SnapshotMeta, termAtMetaIndex: number | undefined): LogPlan | undefined {
  assertSnapshotMeta(meta);
  if (meta.index <= bounds.snapshotIndex) return undefined;
  assert(meta.index <= bounds.lastIndex, () => `compact to ${meta.index} is beyond the last entry ${bounds.lastIndex}`);
  assert(meta.index <= bounds.hardState.commit, () => `compact to ${meta.index} is beyond the commit index ${bounds.hardState.commit}`);
  assert(
    termAtMetaIndex === meta.term,
    () => `compact to ${meta.index} at term ${meta.term}, but the entry there has term ${termAtMetaIndex}`,
  );
  return {
    deletes: [[bounds.snapshotIndex + 1, meta.index]],
    bounds: { ...bounds, snapshotIndex: meta.index },
  };
}

/** True when `index` names a stored entry. */
export function isStored(bounds: LogBounds, index: number): boolean {
  return index > bounds.snapshotIndex && index <= bounds.lastIndex;
}

export function assertSnapshotMeta(meta: SnapshotMeta): void {
  const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;
  assert(isCount(meta.index) && isCount(meta.term), () => `snapshot meta needs integer index and term ≥ 0, got ${meta.index}, ${meta.term}`);
  const { voters, learners } = meta.confState ?? {};
  assert(
    Array.isArray(voters) && Array.isArray(learners) && voters.every(isCount) && learners.every(isCount),
    () => `snapshot ${meta.index} needs a confState with voters and learners (node ids)`,
  );
}
