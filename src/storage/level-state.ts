/**
 * The state machine's LevelDB copy: keys under the 's' prefix, the applied index beside them,
 * always in the same batch. commit() is not fsynced: the Raft log is, and LevelDB's write-ahead
 * log is ordered, so a crash keeps a prefix of the commits and replay from the log redoes the rest.
 */
import { logIndex, type LogIndex } from '../raft/index.js';
import {
  APPLIED_KEY,
  INSTALLING_KEY,
  STATE_KEY_HIGH,
  STATE_KEY_LOW,
  decodeLogIndex,
  encodeCount,
  plainBytes,
  stateKey,
  stateKeyName,
  validateStateKey,
} from './codec.js';
import { assert } from './errors.js';
import { writeBatch, type BatchOp, type SharedDb } from './level-db.js';
import { SerialQueue } from './serial.js';
import type { StateOp, StateStore } from './types.js';

export class LevelStateStore implements StateStore {
  private closed = false;
  private readonly queue: SerialQueue;

  private constructor(
    private readonly shared: SharedDb,
    private applied: LogIndex,
    private installMarked: boolean,
    queuedWritesMax: number,
  ) {
    this.queue = new SerialQueue('state store', queuedWritesMax);
  }

  static async open(shared: SharedDb, queuedWritesMax: number): Promise<LevelStateStore> {
    const bytes = await shared.db.get(APPLIED_KEY);
    const applied = bytes ? decodeLogIndex(bytes, 'applied index') : logIndex(0);
    const installing = (await shared.db.get(INSTALLING_KEY)) !== undefined;
    return new LevelStateStore(shared, applied, installing, queuedWritesMax);
  }

  async appliedIndex(): Promise<LogIndex> {
    this.assertOpen();
    return this.applied;
  }

  async commit(ops: readonly StateOp[], appliedIndex: LogIndex): Promise<void> {
    this.assertOpen();
    const batch = ops.map(toBatchOp);
    return this.queue.run(async () => {
      assert(appliedIndex >= this.applied, () => `applied index goes back from ${this.applied} to ${appliedIndex}`);
      batch.push({ type: 'put', key: APPLIED_KEY, value: encodeApplied(appliedIndex) });
      await writeBatch(this.shared.db, batch, { sync: false });
      this.applied = appliedIndex;
    });
  }

  /**
   * One batch: a delete for every stored key, then the new pairs. It holds the whole state in
   * memory once; session states are small next to RAM. Synced: it is rare, and a snapshot
   * install should not depend on a later log write to become durable.
   */
  async replaceAll(entries: Iterable<readonly [string, Uint8Array]>, appliedIndex: LogIndex): Promise<void> {
    this.assertOpen();
    const puts = [...entries].map(([key, value]) => toBatchOp({ type: 'put', key, value }));
    return this.queue.run(async () => {
      const batch: BatchOp[] = [];
      for await (const key of this.shared.db.keys({ gte: STATE_KEY_LOW, lt: STATE_KEY_HIGH })) {
        batch.push({ type: 'del', key });
      }
      // A loop, not push(...puts): a spread of a million pairs overflows the call stack.
      for (const put of puts) batch.push(put);
      batch.push({ type: 'put', key: APPLIED_KEY, value: encodeApplied(appliedIndex) });
      await writeBatch(this.shared.db, batch, { sync: true });
      this.applied = appliedIndex;
    });
  }

  async beginInstall(snapshotIndex: LogIndex): Promise<void> {
    this.assertOpen();
    return this.queue.run(async () => {
      // The marker first, durably: from here on the state is partial until endInstall.
      await writeBatch(this.shared.db, [{ type: 'put', key: INSTALLING_KEY, value: encodeApplied(snapshotIndex) }], { sync: true });
      this.installMarked = true;
      // A range delete: no list of every key in memory. Not atomic, and need not be: the marker is.
      await this.shared.db.clear({ gte: STATE_KEY_LOW, lt: STATE_KEY_HIGH });
    });
  }

  async putBatch(pairs: readonly (readonly [string, Uint8Array])[]): Promise<void> {
    this.assertOpen();
    const batch = pairs.map(([key, value]) => toBatchOp({ type: 'put', key, value }));
    return this.queue.run(async () => {
      assert(this.installMarked, () => 'putBatch outside a snapshot install (beginInstall first)');
      await writeBatch(this.shared.db, batch, { sync: false });
    });
  }

  async endInstall(appliedIndex: LogIndex): Promise<void> {
    this.assertOpen();
    return this.queue.run(async () => {
      assert(this.installMarked, () => 'endInstall without beginInstall');
      const batch: BatchOp[] = [
        { type: 'put', key: APPLIED_KEY, value: encodeApplied(appliedIndex) },
        { type: 'del', key: INSTALLING_KEY },
      ];
      await writeBatch(this.shared.db, batch, { sync: true });
      this.applied = appliedIndex;
      this.installMarked = false;
    });
  }

  async installing(): Promise<boolean> {
    this.assertOpen();
    return this.installMarked;
  }

  async *entries(): AsyncIterable<readonly [string, Uint8Array]> {
    this.assertOpen();
    // The iterator reads from a LevelDB snapshot taken when it is created: a consistent view.
    for await (const [key, value] of this.shared.db.iterator({ gte: STATE_KEY_LOW, lt: STATE_KEY_HIGH })) {
      yield [stateKeyName(key), plainBytes(value)] as const;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.drain();
    await this.shared.release();
  }

  private assertOpen(): void {
    assert(!this.closed, () => 'state store is closed');
  }
}

function encodeApplied(index: LogIndex): Uint8Array {
  assert(Number.isSafeInteger(index) && index >= 0, () => `applied index must be an integer ≥ 0, got ${index}`);
  return encodeCount(index);
}

/** Validates before anything is written, so a bad op fails the whole commit. */
function toBatchOp(op: StateOp): BatchOp {
  const keyBytes = validateStateKey(op.key);
  if (op.type === 'del') return { type: 'del', key: stateKey(op.key, keyBytes) };
  assert(op.type === 'put', () => `state op type must be 'put' or 'del', got ${String((op as { type: unknown }).type)}`);
  if (!(op.value instanceof Uint8Array)) throw new RangeError(`state value of ${JSON.stringify(op.key)} must be a Uint8Array`);
  return { type: 'put', key: stateKey(op.key, keyBytes), value: op.value };
}
