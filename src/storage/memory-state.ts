/** The in-memory state store and snapshot store, on a MemoryDisk. */
import type { LogIndex, SnapshotMeta } from '../raft/index.js';
import { compareStateKeys, validateStateKey } from './codec.js';
import { assert } from './errors.js';
import { assertSnapshotMeta } from './log-plan.js';
import { copyBytes, copyMeta, type MemoryDisk } from './memory-disk.js';
import type { SnapshotStore, StateOp, StateStore } from './types.js';

export class MemoryStateStore implements StateStore {
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

export class MemorySnapshotStore implements SnapshotStore {
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
