import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { logIndex } from '../../../src/raft/index.js';
import { StorageCorruptionError, openLevelStorage, type LevelStorage } from '../../../src/storage/index.js';
import { logKey } from '../../../src/storage/codec.js';
import { registerStorageConformance } from './conformance.js';
import { bytes, entries, hardState, loadedIndexTerms, snapshotMeta } from './fixtures.js';

registerStorageConformance('leveldb', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sessionraft-storage-'));
  let current = await openLevelStorage(dataDir);
  return {
    storage: current,
    async reopen() {
      await current.close();
      current = await openLevelStorage(dataDir);
      return current;
    },
    async cleanup() {
      await current.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});

describe('leveldb storage', () => {
  let dataDir: string;
  let storage: LevelStorage | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sessionraft-storage-'));
    storage = await openLevelStorage(dataDir);
  });
  afterEach(async () => {
    await storage?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Writes straight into the closed database, as a bad disk (or a bug) might. */
  async function tamper(edit: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
    await storage!.close();
    const db = new ClassicLevel<Uint8Array, Uint8Array>(join(dataDir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    await edit(db);
    await db.close();
    storage = await openLevelStorage(dataDir);
  }

  it('writes each save as ONE batch with sync: true, and state commits without sync', async () => {
    // Every write goes through one chained batch: record its size and options when it is written.
    const writes: Array<{ length: number; options: { sync?: boolean } }> = [];
    const db = storage!.db;
    const original = db.batch.bind(db) as () => ReturnType<typeof db.batch>;
    const batch = vi.spyOn(db, 'batch').mockImplementation((() => {
      const chained = original();
      const write = chained.write.bind(chained);
      chained.write = ((options: { sync?: boolean }) => {
        writes.push({ length: chained.length, options });
        return write(options);
      }) as typeof chained.write;
      return chained;
    }) as never);
    await storage!.log.save({ hardState: hardState(1, 1, 0), entries: entries(1, 64, 1) });
    expect(batch).toHaveBeenCalledTimes(1);
    expect(writes[0]).toMatchObject({ length: 65, options: { sync: true } });

    await storage!.log.save({ entries: entries(10, 11, 2) }); // truncation: deletes in the same batch
    expect(batch).toHaveBeenCalledTimes(2);
    expect(writes[1]).toMatchObject({ length: 2 + 53, options: { sync: true } });

    await storage!.state.commit([{ type: 'put', key: 'k', value: bytes('v') }], logIndex(1));
    expect(writes[2]!.options).toMatchObject({ sync: false });
  });

  it('sorts log keys numerically across byte boundaries', async () => {
    await storage!.log.save({ entries: entries(1, 600, 1) });
    await storage!.log.save({ entries: entries(257, 258, 2) });
    expect(await loadedIndexTerms(storage!.log)).toEqual([
      ...entries(1, 256, 1).map((e) => [e.index, e.term]),
      [257, 2],
      [258, 2],
    ]);
    expect(logKey(2 ** 40 + 5)).toEqual(Uint8Array.of(0x6c, 0, 0, 1, 0, 0, 0, 0, 5));
  });

  it('detects a hole in the log on load', async () => {
    await storage!.log.save({ entries: entries(1, 5, 1) });
    await tamper((db) => db.del(logKey(3)));
    const failure = storage!.log.load();
    await expect(failure).rejects.toThrow(StorageCorruptionError);
    await expect(failure).rejects.toThrow(/hole: entry 3 is missing \(the next stored entry is 4\)/);
  });

  it('detects an entry left below the snapshot and an undecodable entry', async () => {
    await storage!.log.save({ hardState: hardState(1, 0, 5), entries: entries(1, 5, 1) });
    await storage!.log.compact(snapshotMeta(3, 1));
    await tamper((db) => db.put(logKey(2), bytes('x')));
    await expect(storage!.log.load()).rejects.toThrow(/raft log entry 2 is not valid msgpack|entry 2 is not a 4-element/);
  });

  it('refuses a database that sessionraft did not write', async () => {
    await storage!.close();
    storage = undefined;
    const other = await mkdtemp(join(tmpdir(), 'sessionraft-storage-'));
    const db = new ClassicLevel(join(other, 'db'));
    await db.open();
    await db.put('foreign', 'data');
    await db.close();
    await expect(openLevelStorage(other)).rejects.toThrow(/no sessionraft format version/);
    await rm(other, { recursive: true, force: true });
  });

  it('validates its options', async () => {
    await expect(openLevelStorage(dataDir, { queuedWritesMax: 0 })).rejects.toThrow(RangeError);
  });

  describe('snapshot files', () => {
    const snapDir = () => join(dataDir, 'snapshots');

    it('keeps exactly one .snap file and removes older ones and .tmp leftovers', async () => {
      await storage!.snapshots.save(snapshotMeta(5, 1), bytes('five'));
      await writeFile(join(snapDir(), `snap-${'7'.padStart(20, '0')}-${'1'.padStart(20, '0')}.tmp`), 'half written');
      expect((await storage!.snapshots.latest())!.meta.index).toBe(5); // the .tmp is not a snapshot
      await storage!.snapshots.save(snapshotMeta(9, 2), bytes('nine'));
      expect(await readdir(snapDir())).toEqual([`snap-${'9'.padStart(20, '0')}-${'2'.padStart(20, '0')}.snap`]);
    });

    async function corrupt(edit: (file: Buffer) => Buffer): Promise<void> {
      await storage!.snapshots.save(snapshotMeta(5, 1), bytes('the snapshot data'));
      const [name] = await readdir(snapDir());
      const path = join(snapDir(), name!);
      await writeFile(path, edit(await readFile(path)));
    }

    it('detects a flipped data byte', async () => {
      await corrupt((file) => {
        file[file.length - 3]! ^= 0x01;
        return file;
      });
      await expect(storage!.snapshots.latest()).rejects.toThrow(/corrupt: sha256 mismatch/);
    });

    it('detects a flipped meta byte, a truncated file and a bad magic', async () => {
      await corrupt((file) => {
        file[12]! ^= 0x01;
        return file;
      });
      await expect(storage!.snapshots.latest()).rejects.toThrow(StorageCorruptionError);
      await corrupt((file) => file.subarray(0, 20));
      await expect(storage!.snapshots.latest()).rejects.toThrow(/truncated|sha256 mismatch/);
      await corrupt((file) => Buffer.concat([Buffer.from('XX'), file.subarray(2)]));
      await expect(storage!.snapshots.latest()).rejects.toThrow(/not a sessionraft snapshot/);
    });
  });
});
