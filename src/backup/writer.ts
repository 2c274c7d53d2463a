/**
 * Writing a backup file as its pairs arrive: one chunk (about 1 MiB of pairs) is held at a time,
 * compressed on libuv's thread pool while the next one fills, sealed and appended. The file is
 * written to `<path>.tmp`, fsynced, renamed over `path`, and its folder fsynced; on any failure
 * the temporary file is removed and `path` is untouched.
 */
import { createCipheriv, createHash, type Hash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlibConstants } from 'node:zlib';
import { BackupError } from './errors.js';
import {
  BACKUP_FORMAT_VERSION,
  BACKUP_MAGIC,
  BROTLI_QUALITY,
  CHUNK_PLAIN_BYTES_MAX,
  CHUNK_PLAIN_BYTES_TARGET_DEFAULT,
  END_PLAIN_BYTES,
  RecordType,
  TAG_BYTES,
  checkHeaderFields,
  checkKdf,
  chunkAad,
  chunkNonce,
  encodeFrame,
  encodeHeaderJson,
  encodePair,
  encodeVersion,
  endAad,
  endNonce,
  headerAad,
  headerNonce,
  sha256,
  type BackupHeader,
  type KdfParams,
  type StoredHeader,
} from './format.js';
import { SCRYPT_DEFAULTS, checkSecret, deriveFileKey, kdfFor, newSalt, type BackupSecret } from './secret.js';

const compress = promisify(brotliCompress);

export interface WriteBackupOptions {
  /** A chunk is sealed once its pairs reach this many bytes. @default 1 MiB */
  readonly chunkPlainBytesTarget?: number;
  /** scrypt parameters of a passphrase backup. @default SCRYPT_DEFAULTS (N = 2^17, r = 8, p = 1) */
  readonly scrypt?: Extract<KdfParams, { name: 'scrypt' }>;
  /** Aborts the write (the temporary file is removed). */
  readonly signal?: AbortSignal;
}

export interface WrittenBackup {
  /** The file's size. */
  readonly bytes: number;
  /** Hex SHA-256 of the file before its last 32 bytes (which hold it). */
  readonly sha256: string;
  readonly pairs: number;
}

export type BackupProgress = (progress: { readonly pairs: number; readonly bytes: number }) => void;

function ioError(what: string, error: unknown): BackupError {
  return error instanceof BackupError ? error : new BackupError('io', `${what}: ${(error as Error).message}`, { cause: error });
}

/** Appends to the file, hashing every byte. */
class FileSink {
  bytes = 0;
  readonly hash: Hash = createHash('sha256');

  constructor(
    private readonly handle: FileHandle,
    private readonly name: string,
  ) {}

  async write(parts: readonly Uint8Array[], hashed = true): Promise<void> {
    const buffer = Buffer.concat(parts);
    if (hashed) this.hash.update(buffer);
    try {
      for (let written = 0; written < buffer.length; ) {
        written += (await this.handle.write(buffer, written, buffer.length - written, this.bytes + written)).bytesWritten;
      }
    } catch (error) {
      throw ioError(`writing ${this.name}`, error);
    }
    this.bytes += buffer.length;
  }
}

function seal(key: Buffer, nonce: Buffer, aad: Buffer, plain: Uint8Array): Buffer[] {
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return [cipher.update(plain), cipher.final(), cipher.getAuthTag()];
}

/** Writes the envelope start and the header record; returns the header's hash (every chunk's AAD). */
async function writeHeader(sink: FileSink, header: StoredHeader, key: Buffer): Promise<Buffer> {
  const json = encodeHeaderJson(header);
  const headerBytes = Buffer.concat([BACKUP_MAGIC, encodeVersion(BACKUP_FORMAT_VERSION), encodeFrame(RecordType.header, json.length + TAG_BYTES), json]);
  const [, , tag] = seal(key, headerNonce(), headerAad(headerBytes), new Uint8Array(0));
  await sink.write([headerBytes, tag!]);
  return sha256(headerBytes);
}

/** Pairs gathered into chunks, each compressed while the next fills, then sealed and written in order. */
class ChunkWriter {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private chunks = 0;
  private inFlight: Promise<void> = Promise.resolve();
  pairs = 0;
  plainBytes = 0;

  constructor(
    private readonly sink: FileSink,
    private readonly key: Buffer,
    private readonly headerHash: Buffer,
    private readonly targetBytes: number,
    private readonly onProgress: BackupProgress | undefined,
  ) {}

  async add(key: string, value: Uint8Array): Promise<void> {
    if (typeof key !== 'string' || !(value instanceof Uint8Array)) throw new TypeError(`pair ${this.pairs}: expected [string, Uint8Array]`);
    const encoded = encodePair(key, value);
    const size = encoded.reduce((sum, part) => sum + part.length, 0);
    if (size > CHUNK_PLAIN_BYTES_MAX) throw new RangeError(`pair ${JSON.stringify(key.slice(0, 100))} is ${size} bytes, over the ${CHUNK_PLAIN_BYTES_MAX} a chunk holds`);
    if (this.partBytes + size > CHUNK_PLAIN_BYTES_MAX) await this.flush();
    this.parts.push(...encoded);
    this.partBytes += size;
    this.pairs++;
    this.plainBytes += size;
    if (this.partBytes >= this.targetBytes) await this.flush();
  }

  /** Seals the gathered pairs as the next chunk; waits for the chunk before it to be written first. */
  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const plain = Buffer.concat(this.parts);
    this.parts = [];
    this.partBytes = 0;
    const seq = this.chunks++;
    const pairsSoFar = this.pairs;
    const compressed = compress(plain, {
      params: { [zlibConstants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: plain.length },
    });
    compressed.catch(() => undefined); // awaited below; an early failure must not go unhandled meanwhile
    await this.inFlight;
    this.inFlight = (async () => {
      const body = await compressed;
      const frame = encodeFrame(RecordType.chunk, body.length + TAG_BYTES);
      await this.sink.write([frame, ...seal(this.key, chunkNonce(seq), chunkAad(seq, this.headerHash, frame), body)]);
      this.onProgress?.({ pairs: pairsSoFar, bytes: this.sink.bytes });
    })();
    this.inFlight.catch(() => undefined);
  }

  /** Flushes, then writes the end record: pairs, chunks and plaintext bytes, sealed after the last chunk. */
  async end(): Promise<void> {
    await this.flush();
    await this.inFlight;
    const plain = Buffer.alloc(END_PLAIN_BYTES);
    plain.writeBigUInt64BE(BigInt(this.pairs), 0);
    plain.writeBigUInt64BE(BigInt(this.chunks), 8);
    plain.writeBigUInt64BE(BigInt(this.plainBytes), 16);
    const frame = encodeFrame(RecordType.end, END_PLAIN_BYTES + TAG_BYTES);
    await this.sink.write([frame, ...seal(this.key, endNonce(this.chunks), endAad(this.chunks, this.headerHash, frame), plain)]);
  }

  /** Waits for the chunk being written, ignoring its failure (cleanup after an error). */
  async settle(): Promise<void> {
    await this.inFlight.catch(() => undefined);
  }
}

async function fsyncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `pairs` under `header` to `path` (through `path.tmp`, fsynced, renamed). Errors of the
 * `pairs` iterable are rethrown as they are; file errors are BackupError 'io'; a bad header or
 * secret is a RangeError. Nothing is left at `path` or `path.tmp` after a failure.
 */
export async function writeBackup(
  filePath: string,
  header: Omit<BackupHeader, 'formatVersion'>,
  pairs: AsyncIterable<readonly [string, Uint8Array]>,
  secret: BackupSecret,
  onProgress?: BackupProgress,
  options: WriteBackupOptions = {},
): Promise<WrittenBackup> {
  checkHeaderFields(header);
  const checked = checkSecret(secret);
  const targetBytes = options.chunkPlainBytesTarget ?? CHUNK_PLAIN_BYTES_TARGET_DEFAULT;
  if (!Number.isSafeInteger(targetBytes) || targetBytes < 1 || targetBytes > CHUNK_PLAIN_BYTES_MAX) {
    throw new RangeError(`chunkPlainBytesTarget must be an integer in [1, ${CHUNK_PLAIN_BYTES_MAX}], got ${targetBytes}`);
  }
  const salt = newSalt();
  const kdf = kdfFor(checked, checkKdf(options.scrypt ?? SCRYPT_DEFAULTS));
  const key = await deriveFileKey(checked, kdf, salt);
  const stored: StoredHeader = { ...header, formatVersion: BACKUP_FORMAT_VERSION, kdf, salt, compression: 'brotli', cipher: 'aes-256-gcm' };
  const temporary = `${filePath}.tmp`;
  let handle: FileHandle | undefined;
  let chunks: ChunkWriter | undefined;
  try {
    handle = await open(temporary, 'w', 0o600).catch((error: unknown) => {
      throw ioError(`creating ${temporary}`, error);
    });
    const sink = new FileSink(handle, temporary);
    const headerHash = await writeHeader(sink, stored, key);
    chunks = new ChunkWriter(sink, key, headerHash, targetBytes, onProgress);
    for await (const [pairKey, value] of pairs) {
      options.signal?.throwIfAborted();
      await chunks.add(pairKey, value);
    }
    await chunks.end();
    const digest = sink.hash.digest();
    await sink.write([digest], false);
    await handle.sync().catch((error: unknown) => {
      throw ioError(`fsync of ${temporary}`, error);
    });
    await handle.close();
    handle = undefined;
    await rename(temporary, filePath).catch((error: unknown) => {
      throw ioError(`renaming ${temporary} to ${filePath}`, error);
    });
    await fsyncFolder(path.dirname(path.resolve(filePath))).catch((error: unknown) => {
      throw ioError(`fsync of the folder of ${filePath}`, error);
    });
    onProgress?.({ pairs: chunks.pairs, bytes: sink.bytes });
    return { bytes: sink.bytes, sha256: digest.toString('hex'), pairs: chunks.pairs };
  } catch (error) {
    await chunks?.settle();
    await handle?.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}
