/**
 * Snapshot files in <dataDir>/snapshots/. A save writes `snap-<index>-<term>.tmp`, fsyncs it,
 * renames it to `.snap`, fsyncs the directory, and only then deletes older files, so a crash at
 * any point leaves the previous snapshot or the new one, whole.
 *
 * File layout (big-endian):
 *   0        7   magic "SRSNAP1"
 *   7        4   u32 length m of the meta
 *   11       m   msgpack meta [index, term, voters, learners]
 *   11+m     32  sha256(meta bytes ‖ data)
 *   43+m     ..  data
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotMeta } from '../raft/index.js';
import { decodeSnapshotMeta, encodeSnapshotMeta, plainBytes } from './codec.js';
import { StorageCorruptionError, assert } from './errors.js';
import { assertSnapshotMeta } from './log-plan.js';
import { SerialQueue } from './serial.js';
import type { SnapshotStore } from './types.js';

const MAGIC = Buffer.from('SRSNAP1', 'ascii');
const DIGEST_BYTES = 32;
const HEADER_FIXED_BYTES = MAGIC.length + 4;
const FINAL_NAME = /^snap-(\d{20})-(\d{20})\.snap$/;
const TEMP_NAME = /^snap-\d{20}-\d{20}\.tmp$/;

interface SnapshotFileName {
  readonly name: string;
  readonly index: number;
  readonly term: number;
}

export class SnapshotFiles implements SnapshotStore {
  private readonly queue: SerialQueue;

  constructor(
    readonly dir: string,
    queuedWritesMax: number,
  ) {
    this.queue = new SerialQueue('snapshot files', queuedWritesMax);
  }

  save(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    return this.queue.run(() => this.saveNow(meta, data));
  }

  latest(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | undefined> {
    return this.queue.run(() => this.latestNow());
  }

  /** Resolves when every save queued so far has settled. */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  private async saveNow(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    assertSnapshotMeta(meta);
    assert(data instanceof Uint8Array, () => `snapshot ${meta.index} data must be a Uint8Array`);
    await this.ensureDir();
    const newest = newestOf(await this.list());
    assert(!newest || meta.index >= newest.index, () => `snapshot ${meta.index} is older than the stored snapshot ${newest?.index}`);
    const name = fileName(meta);
    const temp = join(this.dir, name.replace(/\.snap$/, '.tmp'));
    await writeDurably(temp, await encodeSnapshotFile(meta, data));
    await rename(temp, join(this.dir, name));
    await syncDir(this.dir);
    await this.removeAllBut(name);
  }

  private async latestNow(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | undefined> {
    const newest = newestOf(await this.list());
    if (!newest) return undefined;
    const path = join(this.dir, newest.name);
    const snapshot = await decodeSnapshotFile(await readFile(path), path);
    if (snapshot.meta.index !== newest.index || snapshot.meta.term !== newest.term) {
      throw new StorageCorruptionError(`${path} holds snapshot ${snapshot.meta.index} at term ${snapshot.meta.term}`);
    }
    return snapshot;
  }

  /** Final snapshot files; *.tmp leftovers of an interrupted save are not snapshots. */
  private async list(): Promise<SnapshotFileName[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const files: SnapshotFileName[] = [];
    for (const name of names) {
      const match = FINAL_NAME.exec(name);
      if (match) files.push({ name, index: Number(match[1]), term: Number(match[2]) });
    }
    return files;
  }

  private async removeAllBut(keep: string): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (name !== keep && (FINAL_NAME.test(name) || TEMP_NAME.test(name))) await rm(join(this.dir, name), { force: true });
    }
  }

  private async ensureDir(): Promise<void> {
    const created = await mkdir(this.dir, { recursive: true });
    // A new directory's own entry must reach the disk too, or the whole folder can vanish.
    if (created !== undefined) await syncDir(join(this.dir, '..'));
  }
}

function fileName(meta: SnapshotMeta): string {
  return `snap-${pad(meta.index)}-${pad(meta.term)}.snap`;
}

function pad(n: number): string {
  assert(Number.isSafeInteger(n) && n >= 0, () => `snapshot index and term must be integers ≥ 0, got ${n}`);
  return String(n).padStart(20, '0');
}

function newestOf(files: readonly SnapshotFileName[]): SnapshotFileName | undefined {
  let newest: SnapshotFileName | undefined;
  for (const file of files) {
    if (!newest || file.index > newest.index || (file.index === newest.index && file.term > newest.term)) newest = file;
  }
  return newest;
}

/** Bytes hashed between two yields to the event loop: a large snapshot never blocks it for long. */
const HASH_SLICE_BYTES = 4 * 1024 * 1024;

/** SHA-256 over `parts`, a slice at a time, yielding to the event loop between slices. */
async function sha256Sliced(parts: readonly Uint8Array[]): Promise<Buffer> {
  const hash = createHash('sha256');
  for (const part of parts) {
    for (let at = 0; at < part.byteLength; at += HASH_SLICE_BYTES) {
      hash.update(part.subarray(at, Math.min(part.byteLength, at + HASH_SLICE_BYTES)));
      if (part.byteLength > HASH_SLICE_BYTES) await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return hash.digest();
}

export async function encodeSnapshotFile(meta: SnapshotMeta, data: Uint8Array): Promise<Buffer[]> {
  const metaBytes = encodeSnapshotMeta(meta);
  const fixed = Buffer.alloc(HEADER_FIXED_BYTES);
  MAGIC.copy(fixed, 0);
  fixed.writeUInt32BE(metaBytes.length, MAGIC.length);
  const digest = await sha256Sliced([metaBytes, data]);
  return [fixed, Buffer.from(metaBytes), digest, Buffer.from(data.buffer, data.byteOffset, data.byteLength)];
}

export async function decodeSnapshotFile(file: Buffer, path: string): Promise<{ meta: SnapshotMeta; data: Uint8Array }> {
  if (!file.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new StorageCorruptionError(`${path} is not a sessionraft snapshot (its first bytes are not "SRSNAP1")`);
  }
  if (file.length < HEADER_FIXED_BYTES + DIGEST_BYTES) {
    throw new StorageCorruptionError(`${path} is truncated: ${file.length} bytes, shorter than any snapshot header`);
  }
  const metaLength = file.readUInt32BE(MAGIC.length);
  const dataStart = HEADER_FIXED_BYTES + metaLength + DIGEST_BYTES;
  if (dataStart > file.length) throw new StorageCorruptionError(`${path} is truncated: header says ${dataStart} bytes, file has ${file.length}`);
  const metaBytes = file.subarray(HEADER_FIXED_BYTES, HEADER_FIXED_BYTES + metaLength);
  const stored = file.subarray(HEADER_FIXED_BYTES + metaLength, dataStart);
  const data = file.subarray(dataStart);
  const actual = await sha256Sliced([metaBytes, data]);
  if (!actual.equals(stored)) throw new StorageCorruptionError(`${path} is corrupt: sha256 mismatch over ${file.length} bytes`);
  return { meta: decodeSnapshotMeta(metaBytes, `${path} meta`), data: plainBytes(data) };
}

async function writeDurably(path: string, chunks: readonly Buffer[]): Promise<void> {
  const handle = await open(path, 'w');
  try {
    for (const chunk of chunks) {
      // write() may write less than asked; loop until the chunk is on its way.
      for (let offset = 0; offset < chunk.length; ) {
        offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync a directory so a rename or create in it is durable (POSIX; Windows cannot open directories). */
async function syncDir(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
