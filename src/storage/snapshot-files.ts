/**
 * Snapshot files in <dataDir>/snapshots/. A snapshot is written as a stream, never held whole:
 * its data goes in chunks into `build-<n>-<pid>.tmp` as it is read (from a LevelDB iterator, or
 * from a peer), hashed as it goes; its meta, known only later (an own snapshot's meta comes from
 * the core's compact(), in the loop), is appended as a trailer by commit(), which then fsyncs the
 * file, renames it to `snap-<index>-<term>.snap`, fsyncs the directory, and only then deletes
 * older files. A crash at any point leaves the previous snapshot or the new one, whole.
 *
 * Why a trailer (and not a second, tmp data file): the data is written once, in place, and the
 * file needs no copy at commit; a reader finds the trailer at a fixed distance from the end.
 *
 * File layout, SRSNAP2 (big-endian):
 *   0          7   magic "SRSNAP2"
 *   7          n   data
 *   7+n        m   msgpack meta [index, term, voters, learners, ...]
 *   7+n+m      4   u32 m
 *   11+n+m     8   u64 n
 *   19+n+m    32   sha256(data)                           (what a transfer carries and checks)
 *   51+n+m    32   sha256(meta ‖ u32 m ‖ u64 n ‖ sha256(data))   (the trailer's own digest)
 * The file is exactly 83+n+m bytes. Readers check the magic, the size, the trailer digest, the
 * meta against the file name, and the data digest as the data streams.
 *
 * SRSNAP1 files (earlier versions) are still read: "SRSNAP1" · u32 m · meta · sha256(meta ‖ data)
 * · data. Their data digest is computed (and the old digest checked) by one streaming pass the
 * first time one is asked about.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotMeta } from '../raft/index.js';
import { decodeSnapshotMeta, encodeSnapshotMeta } from './codec.js';
import { StorageCorruptionError, assert } from './errors.js';
import { assertSnapshotMeta } from './log-plan.js';
import { StagedSnapshots } from './staged.js';
import { SerialQueue } from './serial.js';
import type { SnapshotInfo, SnapshotStore, SnapshotWriter } from './types.js';

const MAGIC_V1 = Buffer.from('SRSNAP1', 'ascii');
const MAGIC_V2 = Buffer.from('SRSNAP2', 'ascii');
const MAGIC_BYTES = 7;
const DIGEST_BYTES = 32;
/** u32 m, u64 n, sha256(data), trailer digest. */
const FOOTER_BYTES = 4 + 8 + DIGEST_BYTES + DIGEST_BYTES;
const V1_HEADER_FIXED_BYTES = MAGIC_BYTES + 4;
const FINAL_NAME = /^snap-(\d{20})-(\d{20})\.snap$/;
const TEMP_NAME = /^(snap-\d{20}-\d{20}|build-\d+-\d+)\.tmp$/;
/** Default bytes per chunk read. */
export const SNAPSHOT_READ_CHUNK_BYTES = 1024 * 1024;

interface SnapshotFileName {
  readonly name: string;
  readonly index: number;
  readonly term: number;
}

/** Where a file's data lies, and what it must hash to. */
interface Located extends SnapshotInfo {
  readonly path: string;
  readonly dataStart: number;
}

let buildCounter = 0;

export class SnapshotFiles implements SnapshotStore {
  private readonly queue: SerialQueue;
  /** Temporary files of writers not yet committed or aborted: a commit must not remove them. */
  private readonly live = new Set<string>();
  private readonly staged = new StagedSnapshots();
  /** SRSNAP1 files' data digests (one full read each), by file name. */
  private readonly v1Digests = new Map<string, Located>();

  constructor(
    readonly dir: string,
    queuedWritesMax: number,
  ) {
    this.queue = new SerialQueue('snapshot files', queuedWritesMax);
  }

  create(): SnapshotWriter {
    const path = join(this.dir, `build-${++buildCounter}-${process.pid}.tmp`);
    this.live.add(path);
    return new FileWriter(this, path);
  }

  async save(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    assertSnapshotMeta(meta);
    assert(data instanceof Uint8Array, () => `snapshot ${meta.index} data must be a Uint8Array`);
    const writer = this.create();
    try {
      await writer.write(data);
      await writer.commit(meta);
    } finally {
      await writer.abort();
    }
  }

  latestInfo(): Promise<SnapshotInfo | undefined> {
    return this.queue.run(async () => {
      const newest = newestOf(await this.list());
      if (!newest) return undefined;
      const { meta, bytes, digest } = await this.locate(newest);
      return { meta, bytes, digest };
    });
  }

  async *readChunks(info: SnapshotInfo, chunkBytes = SNAPSHOT_READ_CHUNK_BYTES, fromOffset = 0): AsyncIterable<Uint8Array> {
    assert(Number.isSafeInteger(chunkBytes) && chunkBytes > 0, () => `chunkBytes must be an integer > 0, got ${chunkBytes}`);
    assert(Number.isSafeInteger(fromOffset) && fromOffset >= 0 && fromOffset <= info.bytes, () => `fromOffset ${fromOffset} is outside 0..${info.bytes}`);
    const name = fileName(info.meta);
    let handle: FileHandle;
    try {
      handle = await open(join(this.dir, name), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`snapshot ${info.meta.index} at term ${info.meta.term} is no longer stored`);
      throw error;
    }
    try {
      const located = await this.locateOpen(handle, { name, index: info.meta.index, term: info.meta.term });
      if (located.bytes !== info.bytes || !Buffer.from(located.digest).equals(Buffer.from(info.digest))) {
        throw new StorageCorruptionError(`${located.path} no longer matches what was announced of it (${info.bytes} bytes)`);
      }
      const hash = createHash('sha256');
      for (let at = 0; at < located.bytes; ) {
        // Before fromOffset: hashed only (the whole digest is still checked), in the same chunks.
        const chunk = Buffer.allocUnsafe(Math.min(chunkBytes, located.bytes - at, at < fromOffset ? fromOffset - at : Infinity));
        await readFully(handle, chunk, located.dataStart + at, located.path);
        hash.update(chunk);
        const skipped = at < fromOffset;
        at += chunk.length;
        if (at === located.bytes) checkDigest(hash.digest(), located);
        if (!skipped) yield chunk;
      }
      if (located.bytes === 0) checkDigest(hash.digest(), located);
    } finally {
      await handle.close();
    }
  }

  async latest(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | undefined> {
    const info = await this.latestInfo();
    if (!info) return undefined;
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.readChunks(info)) chunks.push(chunk);
    const data = Buffer.concat(chunks);
    return { meta: info.meta, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  }

  stage(meta: SnapshotMeta, writer: SnapshotWriter): void {
    this.staged.stage(meta, writer);
  }

  takeStaged(meta: SnapshotMeta): SnapshotWriter | undefined {
    return this.staged.take(meta);
  }

  /** Resolves when every save queued so far has settled. */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  /** FileWriter's commit: in the queue, so saves and reads of the newest never interleave. */
  commitFile(path: string, handle: FileHandle, meta: SnapshotMeta, bytes: number, digest: Buffer): Promise<SnapshotInfo> {
    return this.queue.run(async () => {
      assertSnapshotMeta(meta);
      await this.ensureDir();
      const newest = newestOf(await this.list());
      assert(!newest || meta.index >= newest.index, () => `snapshot ${meta.index} is older than the stored snapshot ${newest?.index}`);
      await writeAll(handle, encodeTrailer(meta, bytes, digest), MAGIC_BYTES + bytes);
      await handle.sync();
      await handle.close();
      const name = fileName(meta);
      await rename(path, join(this.dir, name));
      this.live.delete(path);
      await syncDir(this.dir);
      await this.removeAllBut(name);
      return { meta, bytes, digest: new Uint8Array(digest) };
    });
  }

  forget(path: string): void {
    this.live.delete(path);
  }

  async ensureDir(): Promise<void> {
    const created = await mkdir(this.dir, { recursive: true });
    // A new directory's own entry must reach the disk too, or the whole folder can vanish.
    if (created !== undefined) await syncDir(join(this.dir, '..'));
  }

  private async locate(file: SnapshotFileName): Promise<Located> {
    const cached = this.v1Digests.get(file.name);
    if (cached) return cached;
    const handle = await open(join(this.dir, file.name), 'r');
    try {
      return await this.locateOpen(handle, file);
    } finally {
      await handle.close();
    }
  }

  /** Reads and checks a file's header or trailer; the data digest is checked by the reader. */
  private async locateOpen(handle: FileHandle, file: SnapshotFileName): Promise<Located> {
    const path = join(this.dir, file.name);
    const cached = this.v1Digests.get(file.name);
    if (cached) return cached;
    const size = (await handle.stat()).size;
    const magic = Buffer.alloc(MAGIC_BYTES);
    if (size >= MAGIC_BYTES) await readFully(handle, magic, 0, path);
    let located: Located;
    if (magic.equals(MAGIC_V2)) {
      located = await readV2(handle, size, path);
    } else if (magic.equals(MAGIC_V1)) {
      located = await readV1(handle, size, path);
      this.v1Digests.set(file.name, located);
    } else {
      throw new StorageCorruptionError(`${path} is not a sessionraft snapshot (its first bytes are not "SRSNAP2" or "SRSNAP1")`);
    }
    if (located.meta.index !== file.index || located.meta.term !== file.term) {
      throw new StorageCorruptionError(`${path} holds snapshot ${located.meta.index} at term ${located.meta.term}`);
    }
    return located;
  }

  /** Final snapshot files; *.tmp files (a write in progress or interrupted) are not snapshots. */
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
      if (name === keep || this.live.has(join(this.dir, name))) continue;
      if (FINAL_NAME.test(name) || TEMP_NAME.test(name)) {
        await rm(join(this.dir, name), { force: true });
        this.v1Digests.delete(name);
      }
    }
  }
}

/** Data to a temporary file, hashed as it goes; the trailer and the rename at commit. */
class FileWriter implements SnapshotWriter {
  private handle: Promise<FileHandle> | undefined;
  private readonly hash = createHash('sha256');
  private written = 0;
  private state: 'open' | 'committing' | 'done' = 'open';

  constructor(
    private readonly files: SnapshotFiles,
    private readonly path: string,
  ) {}

  get bytes(): number {
    return this.written;
  }

  digest(): Uint8Array {
    return new Uint8Array(this.hash.copy().digest());
  }

  async write(chunk: Uint8Array): Promise<void> {
    assert(this.state === 'open', () => `snapshot writer ${this.path} is ${this.state}`);
    assert(chunk instanceof Uint8Array, () => 'snapshot data must be a Uint8Array');
    const handle = await this.open();
    await writeAll(handle, chunk, MAGIC_BYTES + this.written);
    this.hash.update(chunk);
    this.written += chunk.length;
  }

  async commit(meta: SnapshotMeta): Promise<SnapshotInfo> {
    assert(this.state === 'open', () => `snapshot writer ${this.path} is ${this.state}`);
    this.state = 'committing';
    const handle = await this.open();
    try {
      const info = await this.files.commitFile(this.path, handle, meta, this.written, this.hash.copy().digest());
      this.state = 'done';
      return info;
    } catch (error) {
      this.state = 'open';
      await this.abort();
      throw error;
    }
  }

  /** Best effort, and never rejects (callers fire and forget it): the next commit removes leftovers. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'done';
    this.files.forget(this.path);
    try {
      if (this.handle) await (await this.handle).close();
    } catch {
      // The file never opened (its directory is gone, the disk is full), or is closed already.
    }
    await rm(this.path, { force: true }).catch(() => undefined);
  }

  private open(): Promise<FileHandle> {
    this.handle ??= (async () => {
      await this.files.ensureDir();
      const handle = await open(this.path, 'w');
      await writeAll(handle, MAGIC_V2, 0);
      return handle;
    })();
    return this.handle;
  }
}

function encodeTrailer(meta: SnapshotMeta, bytes: number, digest: Buffer): Buffer {
  const metaBytes = Buffer.from(encodeSnapshotMeta(meta));
  const fixed = Buffer.alloc(12);
  fixed.writeUInt32BE(metaBytes.length, 0);
  fixed.writeBigUInt64BE(BigInt(bytes), 4);
  const own = createHash('sha256').update(metaBytes).update(fixed).update(digest).digest();
  return Buffer.concat([metaBytes, fixed, digest, own]);
}

async function readV2(handle: FileHandle, size: number, path: string): Promise<Located> {
  if (size < MAGIC_BYTES + FOOTER_BYTES) throw new StorageCorruptionError(`${path} is truncated: ${size} bytes, shorter than any snapshot trailer`);
  const footer = Buffer.alloc(FOOTER_BYTES);
  await readFully(handle, footer, size - FOOTER_BYTES, path);
  const metaLength = footer.readUInt32BE(0);
  const bytes = Number(footer.readBigUInt64BE(4));
  if (MAGIC_BYTES + bytes + metaLength + FOOTER_BYTES !== size) {
    throw new StorageCorruptionError(`${path} is truncated or corrupt: its trailer says ${MAGIC_BYTES + bytes + metaLength + FOOTER_BYTES} bytes, the file has ${size}`);
  }
  const metaBytes = Buffer.alloc(metaLength);
  await readFully(handle, metaBytes, MAGIC_BYTES + bytes, path);
  const digest = footer.subarray(12, 12 + DIGEST_BYTES);
  const own = createHash('sha256').update(metaBytes).update(footer.subarray(0, 12)).update(digest).digest();
  if (!own.equals(footer.subarray(12 + DIGEST_BYTES))) throw new StorageCorruptionError(`${path} is corrupt: sha256 mismatch over its trailer`);
  return { path, dataStart: MAGIC_BYTES, bytes, digest: new Uint8Array(digest), meta: decodeSnapshotMeta(metaBytes, `${path} meta`) };
}

/** SRSNAP1: checks its digest (meta ‖ data) and computes the data digest, in one streaming pass. */
async function readV1(handle: FileHandle, size: number, path: string): Promise<Located> {
  if (size < V1_HEADER_FIXED_BYTES + DIGEST_BYTES) throw new StorageCorruptionError(`${path} is truncated: ${size} bytes, shorter than any snapshot header`);
  const fixed = Buffer.alloc(V1_HEADER_FIXED_BYTES);
  await readFully(handle, fixed, 0, path);
  const metaLength = fixed.readUInt32BE(MAGIC_BYTES);
  const dataStart = V1_HEADER_FIXED_BYTES + metaLength + DIGEST_BYTES;
  if (dataStart > size) throw new StorageCorruptionError(`${path} is truncated: header says ${dataStart} bytes, file has ${size}`);
  const metaAndDigest = Buffer.alloc(metaLength + DIGEST_BYTES);
  await readFully(handle, metaAndDigest, V1_HEADER_FIXED_BYTES, path);
  const metaBytes = metaAndDigest.subarray(0, metaLength);
  const stored = metaAndDigest.subarray(metaLength);
  const whole = createHash('sha256').update(metaBytes);
  const data = createHash('sha256');
  const chunk = Buffer.allocUnsafe(SNAPSHOT_READ_CHUNK_BYTES);
  for (let at = dataStart; at < size; ) {
    const part = chunk.subarray(0, Math.min(chunk.length, size - at));
    await readFully(handle, part, at, path);
    whole.update(part);
    data.update(part);
    at += part.length;
  }
  if (!whole.digest().equals(stored)) throw new StorageCorruptionError(`${path} is corrupt: sha256 mismatch over ${size} bytes`);
  return { path, dataStart, bytes: size - dataStart, digest: new Uint8Array(data.digest()), meta: decodeSnapshotMeta(metaBytes, `${path} meta`) };
}

function checkDigest(actual: Buffer, located: Located): void {
  if (!actual.equals(Buffer.from(located.digest))) {
    throw new StorageCorruptionError(`${located.path} is corrupt: sha256 mismatch over its ${located.bytes} bytes of data`);
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

async function readFully(handle: FileHandle, into: Buffer, position: number, path: string): Promise<void> {
  for (let offset = 0; offset < into.length; ) {
    const { bytesRead } = await handle.read(into, offset, into.length - offset, position + offset);
    if (bytesRead === 0) throw new StorageCorruptionError(`${path} is truncated: it ends before byte ${position + into.length}`);
    offset += bytesRead;
  }
}

async function writeAll(handle: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  // write() may write less than asked; loop until the chunk is on its way.
  for (let offset = 0; offset < chunk.length; ) {
    offset += (await handle.write(chunk, offset, chunk.length - offset, position + offset)).bytesWritten;
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

/** An SRSNAP1 file, as earlier versions wrote it (tests of the upgrade path). */
export function encodeSnapshotFileV1(meta: SnapshotMeta, data: Uint8Array): Buffer {
  const metaBytes = encodeSnapshotMeta(meta);
  const fixed = Buffer.alloc(V1_HEADER_FIXED_BYTES);
  MAGIC_V1.copy(fixed, 0);
  fixed.writeUInt32BE(metaBytes.length, MAGIC_BYTES);
  const digest = createHash('sha256').update(metaBytes).update(data).digest();
  return Buffer.concat([fixed, metaBytes, digest, data]);
}
