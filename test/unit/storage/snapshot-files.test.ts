/**
 * The streaming snapshot file (SRSNAP2): written in chunks with its meta as a trailer, read back
 * in chunks checked against the digest; any damaged byte is a StorageCorruptionError; SRSNAP1
 * files of earlier versions still read.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageCorruptionError, createMemoryStorage, type SnapshotStore } from '../../../src/storage/index.js';
import { SnapshotFiles, encodeSnapshotFileV1 } from '../../../src/storage/snapshot-files.js';
import { snapshotMeta } from './fixtures.js';

function pattern(length: number, seed = 7): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * seed + (i >> 9)) & 0xff);
}

async function readAll(store: SnapshotStore, chunkBytes?: number): Promise<{ data: Buffer; chunks: number }> {
  const info = await store.latestInfo();
  if (!info) throw new Error('no snapshot');
  const chunks: Uint8Array[] = [];
  for await (const chunk of store.readChunks(info, chunkBytes)) chunks.push(chunk);
  return { data: Buffer.concat(chunks), chunks: chunks.length };
}

describe('snapshot files (SRSNAP2)', () => {
  let dir: string;
  let files: SnapshotFiles;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sessionraft-snapfiles-'));
    files = new SnapshotFiles(join(dir, 'snapshots'), 64);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes chunk by chunk, commits the meta last, and reads back in chunks with the digest of the data', async () => {
    const data = pattern(3 * 1024 * 1024 + 17);
    const writer = files.create();
    for (let at = 0; at < data.length; at += 1000 * 1000) await writer.write(data.subarray(at, at + 1000 * 1000));
    expect(await files.latestInfo()).toBeUndefined(); // nothing is stored before the commit
    const digest = createHash('sha256').update(data).digest();
    expect(Buffer.from(writer.digest())).toEqual(digest);
    const info = await writer.commit(snapshotMeta(12, 3));
    expect(info).toMatchObject({ meta: snapshotMeta(12, 3), bytes: data.length });
    expect(await files.latestInfo()).toEqual(info);
    const { data: read, chunks } = await readAll(files, 256 * 1024);
    expect(chunks).toBe(Math.ceil(data.length / (256 * 1024)));
    expect(read.equals(Buffer.from(data))).toBe(true);
    expect(await readdir(join(dir, 'snapshots'))).toEqual([`snap-${'12'.padStart(20, '0')}-${'3'.padStart(20, '0')}.snap`]);
  });

  it('an empty snapshot round-trips', async () => {
    await files.save(snapshotMeta(1, 1), new Uint8Array(0));
    expect((await readAll(files)).data.length).toBe(0);
    expect((await files.latest())?.data.length).toBe(0);
  });

  it('a commit keeps the temporary file of another writer still writing, and an abort removes its own', async () => {
    const slow = files.create();
    await slow.write(pattern(100));
    await files.save(snapshotMeta(5, 1), pattern(10));
    await slow.write(pattern(100));
    await slow.commit(snapshotMeta(6, 1));
    expect((await files.latest())?.data.length).toBe(200);
    const dropped = files.create();
    await dropped.write(pattern(10));
    await dropped.abort();
    expect((await readdir(join(dir, 'snapshots'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a write that cannot open its file rejects, and the abort after it does not (it is fired and forgotten)', async () => {
    await writeFile(join(dir, 'not-a-dir'), 'x');
    const broken = new SnapshotFiles(join(dir, 'not-a-dir', 'snapshots'), 64);
    const writer = broken.create();
    await expect(writer.write(pattern(10))).rejects.toThrow();
    await expect(writer.abort()).resolves.toBeUndefined();
  });

  it('refuses a commit older than the stored snapshot', async () => {
    await files.save(snapshotMeta(9, 2), pattern(10));
    const writer = files.create();
    await writer.write(pattern(5));
    await expect(writer.commit(snapshotMeta(5, 1))).rejects.toThrow(/older than the stored snapshot 9/);
    expect((await files.latestInfo())?.meta.index).toBe(9);
  });

  it('a flipped byte anywhere in the file is a StorageCorruptionError (header, data, meta, trailer)', async () => {
    const data = pattern(300);
    await files.save(snapshotMeta(5, 1), data);
    const [name] = await readdir(join(dir, 'snapshots'));
    const path = join(dir, 'snapshots', name!);
    const good = await readFile(path);
    for (let at = 0; at < good.length; at++) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x10;
      await writeFile(path, bad);
      const store = new SnapshotFiles(join(dir, 'snapshots'), 64);
      // Either the trailer/header check at latestInfo, or the data digest as the chunks stream.
      await expect(readAll(store, 64), `byte ${at}`).rejects.toThrow(StorageCorruptionError);
    }
  });

  it('a truncated file is a StorageCorruptionError, at any length', async () => {
    await files.save(snapshotMeta(5, 1), pattern(300));
    const [name] = await readdir(join(dir, 'snapshots'));
    const path = join(dir, 'snapshots', name!);
    const good = await readFile(path);
    for (const length of [0, 3, 7, 50, 300, good.length - 40, good.length - 1]) {
      await writeFile(path, good.subarray(0, length));
      await expect(readAll(new SnapshotFiles(join(dir, 'snapshots'), 64)), `length ${length}`).rejects.toThrow(StorageCorruptionError);
    }
  });

  it('the data changed under a reader after latestInfo: the stream ends in a StorageCorruptionError', async () => {
    await files.save(snapshotMeta(5, 1), pattern(300));
    const info = (await files.latestInfo())!;
    const [name] = await readdir(join(dir, 'snapshots'));
    const path = join(dir, 'snapshots', name!);
    const file = await readFile(path);
    file[100]! ^= 0xff;
    await writeFile(path, file);
    const got: Uint8Array[] = [];
    await expect(
      (async () => {
        for await (const chunk of files.readChunks(info, 64)) got.push(chunk);
      })(),
    ).rejects.toThrow(/sha256 mismatch/);
    expect(got.reduce((n, c) => n + c.length, 0)).toBeLessThan(300); // the last chunk is never handed out
  });

  it('reads from an offset (a resumed transfer), still checking the digest of the whole', async () => {
    const data = pattern(1000);
    await files.save(snapshotMeta(5, 1), data);
    const info = (await files.latestInfo())!;
    const tail: Uint8Array[] = [];
    for await (const chunk of files.readChunks(info, 128, 300)) tail.push(chunk);
    expect(Buffer.concat(tail).equals(Buffer.from(data.subarray(300)))).toBe(true);
    const [name] = await readdir(join(dir, 'snapshots'));
    const path = join(dir, 'snapshots', name!);
    const file = await readFile(path);
    file[7 + 10]! ^= 0x01; // a data byte before the offset
    await writeFile(path, file);
    await expect(
      (async () => {
        for await (const _ of files.readChunks(info, 128, 300)) void _;
      })(),
    ).rejects.toThrow(StorageCorruptionError);
    const memory = createMemoryStorage().snapshots;
    await memory.save(snapshotMeta(5, 1), data);
    const fromMemory: Uint8Array[] = [];
    for await (const chunk of memory.readChunks((await memory.latestInfo())!, 128, 300)) fromMemory.push(chunk);
    expect(Buffer.concat(fromMemory).equals(Buffer.from(data.subarray(300)))).toBe(true);
  });

  it('still reads an SRSNAP1 file of an earlier version, and checks its digest', async () => {
    await mkdir(join(dir, 'snapshots'), { recursive: true });
    const data = pattern(5000);
    const path = join(dir, 'snapshots', `snap-${'4'.padStart(20, '0')}-${'2'.padStart(20, '0')}.snap`);
    await writeFile(path, encodeSnapshotFileV1(snapshotMeta(4, 2), data));
    const info = await files.latestInfo();
    expect(info).toMatchObject({ meta: snapshotMeta(4, 2), bytes: 5000 });
    expect(Buffer.from(info!.digest)).toEqual(createHash('sha256').update(data).digest());
    expect((await readAll(files, 1000)).data.equals(Buffer.from(data))).toBe(true);
    // A newer snapshot replaces it in the new format.
    await files.save(snapshotMeta(8, 2), pattern(10));
    expect((await files.latest())?.meta.index).toBe(8);
    const bad = encodeSnapshotFileV1(snapshotMeta(4, 2), data);
    bad[bad.length - 1]! ^= 1;
    const other = join(dir, 'v1');
    await mkdir(other);
    await writeFile(join(other, `snap-${'4'.padStart(20, '0')}-${'2'.padStart(20, '0')}.snap`), bad);
    await expect(new SnapshotFiles(other, 64).latestInfo()).rejects.toThrow(StorageCorruptionError);
  });

  it('the stage holds a received snapshot until taken; taking one aborts older staged ones', async () => {
    const older = files.create();
    await older.write(pattern(10));
    files.stage(snapshotMeta(3, 1), older);
    const newer = files.create();
    await newer.write(pattern(20));
    files.stage(snapshotMeta(7, 2), newer);
    expect(files.takeStaged(snapshotMeta(7, 1))).toBeUndefined(); // another term: not it
    expect(files.takeStaged(snapshotMeta(7, 2))).toBe(newer);
    expect(files.takeStaged(snapshotMeta(3, 1))).toBeUndefined(); // older than the one taken: aborted
    await newer.commit(snapshotMeta(7, 2));
    expect((await readdir(join(dir, 'snapshots'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('memory snapshot store: the same streaming contract', () => {
  it('writes in chunks, reads in chunks, and the digest is sha256 of the data', async () => {
    const store = createMemoryStorage().snapshots;
    const data = pattern(10_000);
    const writer = store.create();
    await writer.write(data.subarray(0, 4000));
    await writer.write(data.subarray(4000));
    const info = await writer.commit(snapshotMeta(3, 1));
    expect(Buffer.from(info.digest)).toEqual(createHash('sha256').update(data).digest());
    const { data: read, chunks } = await readAll(store, 3000);
    expect(chunks).toBe(4);
    expect(read.equals(Buffer.from(data))).toBe(true);
  });
});
