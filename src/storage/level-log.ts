/**
 * The Raft log, hard state and snapshot meta in LevelDB. Every save is ONE batch written with
 * `sync: true`: however many entries a Ready carries, they cost one fsync (group commit).
 * The bounds (snapshot index, last index, hard state) live in memory so that a save knows
 * which stored suffix it replaces without reading the log.
 */
import type { Entry, SnapshotMeta } from '../raft/index.js';
import {
  EMPTY_HARD_STATE,
  HARD_STATE_KEY,
  LOG_KEY_HIGH,
  LOG_KEY_LOW,
  SNAPSHOT_META_KEY,
  decodeEntry,
  decodeHardState,
  decodeSnapshotMeta,
  encodeEntry,
  encodeHardState,
  encodeSnapshotMeta,
  logIndexOfKey,
  logKey,
} from './codec.js';
import { StorageCorruptionError, assert } from './errors.js';
import { writeBatch, type BatchOp, type LevelDb, type SharedDb } from './level-db.js';
import { isStored, planCompact, planSave, type LogBounds, type LogPlan } from './log-plan.js';
import { SerialQueue } from './serial.js';
import type { LoadedLog, LogUpdate, RaftLogStore } from './types.js';

export class LevelLogStore implements RaftLogStore {
  private closed = false;
  private readonly queue: SerialQueue;

  private constructor(
    private readonly shared: SharedDb,
    private bounds: LogBounds,
    queuedWritesMax: number,
  ) {
    this.queue = new SerialQueue('raft log store', queuedWritesMax);
  }

  static async open(shared: SharedDb, queuedWritesMax: number): Promise<LevelLogStore> {
    const db = shared.db;
    const hardStateBytes = await db.get(HARD_STATE_KEY);
    const metaBytes = await db.get(SNAPSHOT_META_KEY);
    const lastKeys = await db.keys({ gte: LOG_KEY_LOW, lt: LOG_KEY_HIGH, reverse: true, limit: 1 }).all();
    const snapshotIndex = metaBytes ? decodeSnapshotMeta(metaBytes).index : 0;
    const lastStored = lastKeys[0] ? logIndexOfKey(lastKeys[0]) : 0;
    const bounds: LogBounds = {
      snapshotIndex,
      lastIndex: Math.max(snapshotIndex, lastStored),
      hardState: hardStateBytes ? decodeHardState(hardStateBytes) : EMPTY_HARD_STATE,
    };
    return new LevelLogStore(shared, bounds, queuedWritesMax);
  }

  private get db(): LevelDb {
    return this.shared.db;
  }

  async load(): Promise<LoadedLog> {
    this.assertOpen();
    return this.queue.run(() => this.loadNow());
  }

  async save(update: LogUpdate): Promise<void> {
    this.assertOpen();
    return this.queue.run(() => this.saveNow(update));
  }

  async compact(meta: SnapshotMeta): Promise<void> {
    this.assertOpen();
    return this.queue.run(() => this.compactNow(meta));
  }

  /** Waits for the writes already queued; later calls are refused. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.drain();
    await this.shared.release();
  }

  private assertOpen(): void {
    assert(!this.closed, () => 'raft log store is closed');
  }

  private async loadNow(): Promise<LoadedLog> {
    const hardStateBytes = await this.db.get(HARD_STATE_KEY);
    const metaBytes = await this.db.get(SNAPSHOT_META_KEY);
    const hardState = hardStateBytes ? decodeHardState(hardStateBytes) : EMPTY_HARD_STATE;
    const snapshot = metaBytes ? decodeSnapshotMeta(metaBytes) : undefined;
    const snapshotIndex = snapshot?.index ?? 0;
    const entries = await this.readEntries(snapshotIndex);
    const lastIndex = snapshotIndex + entries.length;
    if (hardState.commit > lastIndex) {
      throw new StorageCorruptionError(`raft log ends at ${lastIndex} but the hard state says ${hardState.commit} is committed`);
    }
    this.bounds = { snapshotIndex, lastIndex, hardState };
    return snapshot ? { hardState, snapshot, entries } : { hardState, entries };
  }

  /** Every stored entry, checked to be contiguous from snapshotIndex + 1: a hole is corruption. */
  private async readEntries(snapshotIndex: number): Promise<Entry[]> {
    const entries: Entry[] = [];
    let expected = snapshotIndex + 1;
    for await (const [key, value] of this.db.iterator({ gte: LOG_KEY_LOW, lt: LOG_KEY_HIGH })) {
      const index = logIndexOfKey(key);
      const entry = decodeEntry(value, `raft log entry ${index}`);
      if (entry.index !== index) throw new StorageCorruptionError(`raft log key ${index} holds entry ${entry.index}`);
      if (index < expected) {
        throw new StorageCorruptionError(`raft log holds entry ${index}, at or below the snapshot index ${snapshotIndex}`);
      }
      if (index > expected) {
        throw new StorageCorruptionError(`raft log has a hole: entry ${expected} is missing (the next stored entry is ${index})`);
      }
      entries.push(entry);
      expected++;
    }
    return entries;
  }

  private async saveNow(update: LogUpdate): Promise<void> {
    const snap = update.snapshot;
    const termAtSnapshot = snap && isStored(this.bounds, snap.index) ? await this.termAt(snap.index) : undefined;
    const plan = planSave(this.bounds, update, termAtSnapshot);
    const ops = deleteOps(plan);
    for (const entry of update.entries) ops.push({ type: 'put', key: logKey(entry.index), value: encodeEntry(entry) });
    if (update.hardState) ops.push({ type: 'put', key: HARD_STATE_KEY, value: encodeHardState(update.hardState) });
    if (snap) ops.push({ type: 'put', key: SNAPSHOT_META_KEY, value: encodeSnapshotMeta(snap) });
    // The contract: durable when it resolves. LevelDB does not fsync unless told to.
    await writeBatch(this.db, ops, { sync: true });
    this.bounds = plan.bounds;
  }

  private async compactNow(meta: SnapshotMeta): Promise<void> {
    const termAtMeta = isStored(this.bounds, meta.index) ? await this.termAt(meta.index) : undefined;
    const plan = planCompact(this.bounds, meta, termAtMeta);
    if (!plan) return;
    const ops = deleteOps(plan);
    ops.push({ type: 'put', key: SNAPSHOT_META_KEY, value: encodeSnapshotMeta(meta) });
    // Not synced: losing a compaction only keeps entries longer. The WAL keeps it atomic and ordered.
    await writeBatch(this.db, ops, { sync: false });
    this.bounds = plan.bounds;
  }

  private async termAt(index: number): Promise<number> {
    const bytes = await this.db.get(logKey(index));
    if (!bytes) throw new StorageCorruptionError(`raft log entry ${index} is missing (the log should hold ${this.bounds.snapshotIndex + 1}..${this.bounds.lastIndex})`);
    return decodeEntry(bytes, `raft log entry ${index}`).term;
  }
}

function deleteOps(plan: LogPlan): BatchOp[] {
  const ops: BatchOp[] = [];
  for (const [from, to] of plan.deletes) {
    for (let index = from; index <= to; index++) ops.push({ type: 'del', key: logKey(index) });
  }
  return ops;
}
