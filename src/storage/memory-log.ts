/** The in-memory Raft log store: the same plans as the LevelDB one, applied to a MemoryDisk. */
import type { Entry, SnapshotMeta } from '../raft/index.js';
import { StorageCorruptionError, assert } from './errors.js';
import { isStored, planCompact, planSave, type LogBounds, type LogPlan } from './log-plan.js';
import { copyEntry, copyMeta, type DiskImage, type MemoryDisk } from './memory-disk.js';
import type { LoadedLog, LogUpdate, RaftLogStore } from './types.js';

export class MemoryLogStore implements RaftLogStore {
  private closed = false;
  private bounds: LogBounds;

  constructor(private readonly disk: MemoryDisk) {
    const { snapshotMeta, log, hardState } = disk.image;
    const snapshotIndex = snapshotMeta?.index ?? 0;
    let lastIndex = snapshotIndex;
    for (const index of log.keys()) lastIndex = Math.max(lastIndex, index);
    this.bounds = { snapshotIndex, lastIndex, hardState };
  }

  async load(): Promise<LoadedLog> {
    this.assertOpen();
    const { hardState, snapshotMeta: snapshot, log } = this.disk.image;
    const snapshotIndex = snapshot?.index ?? 0;
    const entries: Entry[] = [];
    for (let index = snapshotIndex + 1; log.has(index); index++) entries.push(copyEntry(log.get(index)!));
    if (entries.length !== log.size) throw holeError(log, snapshotIndex, entries.length);
    this.bounds = { snapshotIndex, lastIndex: snapshotIndex + entries.length, hardState };
    const copy = { ...hardState };
    return snapshot ? { hardState: copy, snapshot: copyMeta(snapshot), entries } : { hardState: copy, entries };
  }

  async save(update: LogUpdate): Promise<void> {
    this.assertOpen();
    const snap = update.snapshot;
    const plan = planSave(this.bounds, update, snap ? this.termAt(snap.index) : undefined);
    const entries = update.entries.map(copyEntry);
    const hardState = update.hardState && { ...update.hardState };
    const snapshot = snap && copyMeta(snap);
    this.disk.write(
      (image) => {
        applyDeletes(image, plan);
        for (const entry of entries) image.log.set(entry.index, entry);
        if (hardState) image.hardState = hardState;
        if (snapshot) image.snapshotMeta = snapshot;
      },
      { sync: true },
    );
    this.bounds = plan.bounds;
  }

  async compact(meta: SnapshotMeta): Promise<void> {
    this.assertOpen();
    const plan = planCompact(this.bounds, meta, this.termAt(meta.index));
    if (!plan) return;
    const snapshot = copyMeta(meta);
    this.disk.write(
      (image) => {
        applyDeletes(image, plan);
        image.snapshotMeta = snapshot;
      },
      { sync: false },
    );
    this.bounds = plan.bounds;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private termAt(index: number): number | undefined {
    return isStored(this.bounds, index) ? this.disk.image.log.get(index)?.term : undefined;
  }

  private assertOpen(): void {
    assert(!this.closed, () => 'raft log store is closed');
  }
}

function applyDeletes(image: DiskImage, plan: LogPlan): void {
  for (const [from, to] of plan.deletes) {
    for (let index = from; index <= to; index++) image.log.delete(index);
  }
}

function holeError(log: ReadonlyMap<number, Entry>, snapshotIndex: number, contiguous: number): StorageCorruptionError {
  const missing = snapshotIndex + contiguous + 1;
  const stray = [...log.keys()].filter((index) => index < missing).sort((a, b) => a - b)[0];
  if (stray !== undefined && stray <= snapshotIndex) {
    return new StorageCorruptionError(`raft log holds entry ${stray}, at or below the snapshot index ${snapshotIndex}`);
  }
  let next = Infinity;
  for (const index of log.keys()) if (index > missing) next = Math.min(next, index);
  return new StorageCorruptionError(`raft log has a hole: entry ${missing} is missing (the next stored entry is ${next})`);
}
