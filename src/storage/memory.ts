/**
 * In-memory stores with the same contracts as the LevelDB ones (the same plan functions decide
 * truncation), for the deterministic simulation and unit tests. Everything is synchronous
 * underneath; restart() models a crash of the process or of the machine.
 */
import { logIndex, type Entry, type LogIndex, type SnapshotMeta } from '../raft/index.js';
import { EMPTY_HARD_STATE, compareStateKeys, validateStateKey } from './codec.js';
import { StorageCorruptionError, assert } from './errors.js';
import { isStored, planCompact, planSave, assertSnapshotMeta, type LogBounds, type LogPlan } from './log-plan.js';
import { MemoryDisk, emptyImage, type DiskImage } from './memory-disk.js';
import { positiveInteger } from './options.js';
import type { LoadedLog, LogUpdate, RaftLogStore, SnapshotStore, StateOp, StateStore, Storage } from './types.js';

export interface MemoryStorageOptions {
  /**
   * Unsynced writes (state commits, compactions) the simulated disk remembers as losable;
   * older ones count as written back by the OS. @default 10_000
   */
  readonly unsyncedWritesMax?: number;
}

export interface RestartOptions {
  /**
   * How many unsynced writes (oldest first) survive. @default Infinity — a process crash: the
   * OS still holds them. 0 models a power loss right after the last fsync.
   */
  readonly unsyncedWritesKept?: number;
}

export interface MemoryStorage extends Storage {
  /** Writes a power loss could lose right now (state commits and compactions since the last sync). */
  readonly unsyncedWrites: number;
  /** The storage a restarted process finds on this disk. This instance stops working. */
  restart(options?: RestartOptions): MemoryStorage;
}

export function createMemoryStorage(options: MemoryStorageOptions = {}): MemoryStorage {
  const unsyncedWritesMax = options.unsyncedWritesMax ?? 10_000;
  positiveInteger('unsyncedWritesMax', unsyncedWritesMax);
  return storageOver(emptyImage(EMPTY_HARD_STATE, logIndex(0)), unsyncedWritesMax);
}

function storageOver(image: DiskImage, unsyncedWritesMax: number): MemoryStorage {
  const disk = new MemoryDisk(image, unsyncedWritesMax);
  const log = new MemoryLogStore(disk);
  const state = new MemoryStateStore(disk);
  return {
    log,
    state,
    snapshots: new MemorySnapshotStore(disk),
    get unsyncedWrites() {
      return disk.unsyncedWrites;
    },
    async close() {
      await Promise.all([log.close(), state.close()]);
    },
    restart(options: RestartOptions = {}) {
      return storageOver(disk.crash(options.unsyncedWritesKept ?? Infinity), unsyncedWritesMax);
    },
  };
}

class MemoryLogStore implements RaftLogStore {
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

/** A plain Uint8Array copy. (Buffer#slice would return a view, and a Buffer.) */
function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function copyMeta(meta: SnapshotMeta): SnapshotMeta {
  const { voters, learners } = meta.confState;
  return { index: meta.index, term: meta.term, confState: { voters: [...voters], learners: [...learners] } };
}

function copyEntry(entry: Entry): Entry {
  return { term: entry.term, index: entry.index, type: entry.type, data: copyBytes(entry.data) };
}

class MemoryStateStore implements StateStore {
  private closed = false;

  constructor(private readonly disk: MemoryDisk) {}

  async appliedIndex(): Promise<LogIndex> {
    this.assertOpen();
    return this.disk.image.applied;
  }

  async commit(ops: readonly StateOp[], appliedIndex: LogIndex): Promise<void> {
    this.assertOpen();
    const copies = ops.map(copyOp);
    const applied = this.disk.image.applied;
    assert(appliedIndex >= applied, () => `applied index goes back from ${applied} to ${appliedIndex}`);
    assertIndex(appliedIndex);
    this.disk.write(
      (image) => {
        for (const op of copies) {
          if (op.type === 'put') image.state.set(op.key, op.value);
          else image.state.delete(op.key);
        }
        image.applied = appliedIndex;
      },
      { sync: false },
    );
  }

  async replaceAll(entries: Iterable<readonly [string, Uint8Array]>, appliedIndex: LogIndex): Promise<void> {
    this.assertOpen();
    const copies = [...entries].map(([key, value]) => copyOp({ type: 'put', key, value }));
    assertIndex(appliedIndex);
    this.disk.write(
      (image) => {
        image.state.clear();
        for (const op of copies) if (op.type === 'put') image.state.set(op.key, op.value);
        image.applied = appliedIndex;
      },
      { sync: true },
    );
  }

  async *entries(): AsyncIterable<readonly [string, Uint8Array]> {
    this.assertOpen();
    const pairs = [...this.disk.image.state].sort(([a], [b]) => compareStateKeys(a, b));
    for (const [key, value] of pairs) yield [key, copyBytes(value)] as const;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    assert(!this.closed, () => 'state store is closed');
  }
}

/** Validates like the LevelDB store and copies, so a caller's later mutation cannot reach the "disk". */
function copyOp(op: StateOp): StateOp {
  validateStateKey(op.key);
  if (op.type === 'del') return { type: 'del', key: op.key };
  assert(op.type === 'put', () => `state op type must be 'put' or 'del', got ${String((op as { type: unknown }).type)}`);
  if (!(op.value instanceof Uint8Array)) throw new RangeError(`state value of ${JSON.stringify(op.key)} must be a Uint8Array`);
  return { type: 'put', key: op.key, value: copyBytes(op.value) };
}

function assertIndex(index: number): void {
  assert(Number.isSafeInteger(index) && index >= 0, () => `applied index must be an integer ≥ 0, got ${index}`);
}

class MemorySnapshotStore implements SnapshotStore {
  constructor(private readonly disk: MemoryDisk) {}

  async save(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    assertSnapshotMeta(meta);
    assert(data instanceof Uint8Array, () => `snapshot ${meta.index} data must be a Uint8Array`);
    const stored = this.disk.image.snapshotFile?.meta.index;
    assert(stored === undefined || meta.index >= stored, () => `snapshot ${meta.index} is older than the stored snapshot ${stored}`);
    const file = { meta: copyMeta(meta), data: copyBytes(data) };
    this.disk.write((image) => (image.snapshotFile = file), { sync: true });
  }

  async latest(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | undefined> {
    const file = this.disk.image.snapshotFile;
    return file && { meta: copyMeta(file.meta), data: copyBytes(file.data) };
  }
}
