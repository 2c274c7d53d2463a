/**
 * The replicated log as the core holds it: every entry since the last compaction, in memory.
 * Storage is write-only from here (the runtime persists what Ready hands out) and is read only
 * at start-up. Positions, all monotonic except through truncation of an uncommitted suffix:
 *
 *   snapshot.index ≤ applied ≤ applying ≤ committed ≤ lastIndex,   stable ≤ lastIndex
 *
 * - stable: the last index the runtime has persisted (entries after it go into Ready.entries);
 * - applying: the last index handed out in Ready.committed; applied: acknowledged by advance().
 */
import { invariant } from './assert.js';
import type { Entry, LogIndex, Snapshot, SnapshotMeta, Term } from './types.js';

export function entryBytes(entry: Entry): number {
  return entry.data.byteLength;
}

export class RaftLog {
  private snapshotMeta: SnapshotMeta;
  /** entries[i].index === snapshotMeta.index + 1 + i */
  private entries: Entry[];
  committed: LogIndex;
  applied: LogIndex;
  applying: LogIndex;
  stable: LogIndex;
  /** A snapshot received from the leader and not yet handed out / persisted. */
  pendingSnapshot: Snapshot | undefined;

  constructor(snapshot: SnapshotMeta, entries: readonly Entry[], committed: LogIndex, applied: LogIndex) {
    this.snapshotMeta = snapshot;
    this.entries = [];
    this.committed = snapshot.index;
    this.applied = snapshot.index;
    this.applying = snapshot.index;
    this.stable = snapshot.index;
    this.pendingSnapshot = undefined;
    this.appendContiguous(entries);
    this.stable = this.lastIndex();
    invariant(committed >= snapshot.index, () => `restart commit ${committed} is below the snapshot index ${snapshot.index}`);
    this.commitTo(committed);
    invariant(applied >= snapshot.index, () => `restart applied ${applied} is below the snapshot index ${snapshot.index}`);
    invariant(applied <= committed, () => `restart applied ${applied} is above commit ${committed}`);
    this.applied = applied;
    this.applying = applied;
  }

  get snapshot(): SnapshotMeta {
    return this.snapshotMeta;
  }

  firstIndex(): LogIndex {
    return (this.snapshotMeta.index + 1) as LogIndex;
  }

  lastIndex(): LogIndex {
    return (this.snapshotMeta.index + this.entries.length) as LogIndex;
  }

  lastTerm(): Term {
    return this.term(this.lastIndex()) as Term;
  }

  /** The term at `index`, or undefined if compacted away or beyond the end. */
  term(index: LogIndex): Term | undefined {
    if (index === this.snapshotMeta.index) return this.snapshotMeta.term;
    if (index < this.snapshotMeta.index || index > this.lastIndex()) return undefined;
    return this.at(index).term;
  }

  /** The entry at `index`, which must be in memory. */
  at(index: LogIndex): Entry {
    const entry = this.entries[index - this.snapshotMeta.index - 1];
    invariant(entry !== undefined, () => `entry ${index} is not in the log [${this.firstIndex()}, ${this.lastIndex()}]`);
    return entry;
  }

  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: is a log ending at (lastTerm, lastIndex) at least as up to date as ours? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi] (inclusive), which must all be in memory. */
  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    if (hi < lo) return [];
    invariant(lo >= this.firstIndex(), () => `slice from ${lo} is below the first index ${this.firstIndex()}`);
    invariant(hi <= this.lastIndex(), () => `slice to ${hi} is beyond the last index ${this.lastIndex()}`);
    const offset = this.snapshotMeta.index + 1;
    return this.entries.slice(lo - offset, hi - offset + 1);
  }

  /** Entries from `lo` on, up to `bytesMax` bytes of data but always at least one entry. */
  entriesFrom(lo: LogIndex, bytesMax: number): Entry[] {
    const last = this.lastIndex();
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= last; i++) {
      const entry = this.at(i as LogIndex);
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  /** The first index at which `entries` disagree with the log (or run past it); 0 if none. */
  findConflict(entries: readonly Entry[]): LogIndex {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0 as LogIndex;
  }

  /**
   * A follower's reject hint for a probe at `index`: if our log is shorter, our last entry;
   * otherwise the term we hold at `index` and the first index we hold of that term.
   */
  rejectHint(index: LogIndex): { index: LogIndex; term: Term } {
    const last = this.lastIndex();
    if (index > last) return { index: last, term: this.lastTerm() };
    const conflictTerm = this.term(index) as Term;
    let first = index;
    while (first > this.firstIndex() && first - 1 > this.committed && this.term((first - 1) as LogIndex) === conflictTerm) {
      first = (first - 1) as LogIndex;
    }
    return { index: first, term: conflictTerm };
  }

  /** The last index ≤ `index` whose term is ≤ `term` (leader-side backtracking). */
  lastIndexWithTermAtMost(index: LogIndex, term: Term): LogIndex {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapshotMeta.index && this.at(i as LogIndex).term > term) i--;
    return i as LogIndex;
  }

  /**
   * Appends `entries`, replacing any conflicting suffix. Returns the index from which the old
   * log was cut (0 if nothing was cut). Entries at or below commit are never replaced.
   */
  append(entries: readonly Entry[]): LogIndex {
    const first = entries[0];
    if (first === undefined) return 0 as LogIndex;
    invariant(
      first.index > this.committed,
      () => `append at index ${first.index} would overwrite committed entries (commit ${this.committed})`,
    );
    invariant(
      first.index <= this.lastIndex() + 1,
      () => `append at index ${first.index} leaves a hole after the last index ${this.lastIndex()}`,
    );
    let cutFrom = 0 as LogIndex;
    if (first.index <= this.lastIndex()) {
      cutFrom = first.index;
      this.entries.length = first.index - this.snapshotMeta.index - 1;
      this.stable = Math.min(this.stable, first.index - 1) as LogIndex;
    }
    this.appendContiguous(entries);
    return cutFrom;
  }

  private appendContiguous(entries: readonly Entry[]): void {
    let expected = this.lastIndex() + 1;
    let previousTerm = this.lastTerm() ?? 0;
    for (const entry of entries) {
      invariant(entry.index === expected, () => `log not contiguous: entry index ${entry.index}, expected ${expected}`);
      invariant(entry.term >= previousTerm, () => `log terms decrease: entry ${entry.index} has term ${entry.term} after term ${previousTerm}`);
      this.entries.push(entry);
      expected++;
      previousTerm = entry.term;
    }
  }

  commitTo(index: LogIndex): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex(), () => `commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  unstableEntries(): Entry[] {
    return this.slice((this.stable + 1) as LogIndex, this.lastIndex());
  }

  hasUnstableEntries(): boolean {
    return this.stable < this.lastIndex();
  }

  /** The persisted entries ended at (index, term): mark them stable unless the log moved on. */
  stableTo(index: LogIndex, term: Term): void {
    if (index > this.stable && this.matchTerm(index, term)) this.stable = index;
  }

  hasNextCommittedEntries(): boolean {
    return this.applying < this.committed;
  }

  nextCommittedEntries(countMax: number): Entry[] {
    const hi = Math.min(this.committed, this.applying + countMax) as LogIndex;
    return this.slice((this.applying + 1) as LogIndex, hi);
  }

  /** Ready handed out `committed` entries up to `index`. */
  applyingTo(index: LogIndex): void {
    invariant(index >= this.applying, () => `applying index moves back from ${this.applying} to ${index}`);
    invariant(index <= this.committed, () => `applying ${index} beyond commit ${this.committed}`);
    this.applying = index;
  }

  appliedTo(index: LogIndex): void {
    invariant(index <= this.applying, () => `applied ${index} beyond the handed-out index ${this.applying}`);
    if (index > this.applied) this.applied = index;
  }

  /** Replaces the whole log with a snapshot from the leader (newer than our commit). */
  restore(snapshot: Snapshot): void {
    const { index } = snapshot.meta;
    invariant(index > this.committed, () => `restore of snapshot ${index} at or below commit ${this.committed}`);
    this.snapshotMeta = snapshot.meta;
    this.entries = [];
    this.committed = index;
    this.applying = index;
    this.stable = index;
    this.pendingSnapshot = snapshot;
  }

  /** The state machine captured everything up to `meta.index`: drop those entries. */
  compact(meta: SnapshotMeta): void {
    invariant(meta.index <= this.applied, () => `compact at ${meta.index} beyond applied ${this.applied}`);
    invariant(meta.index > this.snapshotMeta.index, () => `compact at ${meta.index} not after snapshot ${this.snapshotMeta.index}`);
    invariant(meta.term === this.term(meta.index), () => `compact at ${meta.index} with term ${meta.term}, log has ${this.term(meta.index)}`);
    this.entries.splice(0, meta.index - this.snapshotMeta.index);
    this.snapshotMeta = meta;
  }
}
