/** The in-memory state store and snapshot store, on a MemoryDisk. */
import { createHash } from 'node:crypto';
import type { LogIndex, SnapshotMeta } from '../raft/index.js';
import { compareStateKeys, validateStateKey } from './codec.js';
import { StorageCorruptionError, assert } from './errors.js';
import { assertSnapshotMeta } from './log-plan.js';
import { StagedSnapshots } from './staged.js';
import { copyBytes, copyMeta, type MemoryDisk } from './memory-disk.js';
import type { SnapshotInfo, SnapshotStore, SnapshotWriter, StateOp, StateStore } from './types.js';

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

  async beginInstall(snapshotIndex: LogIndex): Promise<void> {
    this.assertOpen();
    assertIndex(snapshotIndex);
    this.disk.write(
      (image) => {
        image.installing = true;
        image.state.clear();
      },
      { sync: true },
    );
  }

  async putBatch(pairs: readonly (readonly [string, Uint8Array])[]): Promise<void> {
    this.assertOpen();
    assert(this.disk.image.installing, () => 'putBatch outside a snapshot install (beginInstall first)');
    const copies = pairs.map(([key, value]) => copyOp({ type: 'put', key, value }));
    this.disk.write(
      (image) => {
        for (const op of copies) if (op.type === 'put') image.state.set(op.key, op.value);
      },
      { sync: false },
    );
  }

  async endInstall(appliedIndex: LogIndex): Promise<void> {
    this.assertOpen();
    assert(this.disk.image.installing, () => 'endInstall without beginInstall');
    assertIndex(appliedIndex);
    this.disk.write(
      (image) => {
        image.applied = appliedIndex;
        image.installing = false;
      },
      { sync: true },
    );
  }

  async installing(): Promise<boolean> {
    this.assertOpen();
    return this.disk.image.installing;
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

/**
 * Snapshots on the simulated disk. The data is kept in memory (the simulation's states are small),
 * but through the same streaming contract as the files: a writer, chunked reads checked against
 * the digest, the stage of received snapshots.
 */
export class MemorySnapshotStore implements SnapshotStore {
  private readonly staged = new StagedSnapshots();

  constructor(private readonly disk: MemoryDisk) {}

  create(): SnapshotWriter {
    const disk = this.disk;
    const chunks: Uint8Array[] = [];
    const hash = createHash('sha256');
    let bytes = 0;
    let state: 'open' | 'done' = 'open';
    return {
      get bytes() {
        return bytes;
      },
      digest: () => new Uint8Array(hash.copy().digest()),
      async write(chunk: Uint8Array) {
        assert(state === 'open', () => 'snapshot writer is done');
        assert(chunk instanceof Uint8Array, () => 'snapshot data must be a Uint8Array');
        chunks.push(copyBytes(chunk));
        hash.update(chunk);
        bytes += chunk.length;
      },
      async commit(meta: SnapshotMeta) {
        assert(state === 'open', () => 'snapshot writer is done');
        assertSnapshotMeta(meta);
        const stored = disk.image.snapshotFile?.meta.index;
        assert(stored === undefined || meta.index >= stored, () => `snapshot ${meta.index} is older than the stored snapshot ${stored}`);
        state = 'done';
        const data = concat(chunks, bytes);
        const digest = new Uint8Array(hash.copy().digest());
        const file = { meta: copyMeta(meta), data, digest };
        disk.write((image) => (image.snapshotFile = file), { sync: true });
        return { meta: copyMeta(meta), bytes, digest: copyBytes(digest) };
      },
      async abort() {
        state = 'done';
      },
    };
  }

  async latestInfo(): Promise<SnapshotInfo | undefined> {
    const file = this.disk.image.snapshotFile;
    return file && { meta: copyMeta(file.meta), bytes: file.data.length, digest: copyBytes(file.digest) };
  }

  async *readChunks(info: SnapshotInfo, chunkBytes = 1024 * 1024, fromOffset = 0): AsyncIterable<Uint8Array> {
    assert(Number.isSafeInteger(fromOffset) && fromOffset >= 0 && fromOffset <= info.bytes, () => `fromOffset ${fromOffset} is outside 0..${info.bytes}`);
    const file = this.disk.image.snapshotFile;
    if (!file || file.meta.index !== info.meta.index || file.meta.term !== info.meta.term) {
      throw new Error(`snapshot ${info.meta.index} at term ${info.meta.term} is no longer stored`);
    }
    const data = file.data;
    const hash = createHash('sha256');
    hash.update(data.subarray(0, fromOffset));
    let at = fromOffset;
    do {
      const end = Math.min(data.length, at + chunkBytes);
      const chunk = copyBytes(data.subarray(at, end));
      hash.update(chunk);
      at = end;
      if (at === data.length && !Buffer.from(hash.digest()).equals(Buffer.from(info.digest))) {
        throw new StorageCorruptionError(`snapshot ${info.meta.index}: sha256 mismatch over its ${data.length} bytes of data`);
      }
      if (chunk.length > 0) yield chunk;
    } while (at < data.length);
  }

  stage(meta: SnapshotMeta, writer: SnapshotWriter): void {
    this.staged.stage(meta, writer);
  }

  takeStaged(meta: SnapshotMeta): SnapshotWriter | undefined {
    return this.staged.take(meta);
  }

  async save(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    assertSnapshotMeta(meta);
    assert(data instanceof Uint8Array, () => `snapshot ${meta.index} data must be a Uint8Array`);
    const writer = this.create();
    await writer.write(data);
    await writer.commit(meta);
  }

  async latest(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | undefined> {
    const file = this.disk.image.snapshotFile;
    return file && { meta: copyMeta(file.meta), data: copyBytes(file.data) };
  }
}

function concat(chunks: readonly Uint8Array[], bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }
  return data;
}
