/**
 * Reading a backup file front to back, one record at a time (never the whole file in memory),
 * with an error that says what is wrong: the key, a truncation, a changed byte, a foreign file,
 * or a newer format. A SHA-256 of every byte read so far is kept as the file is read; when a
 * check fails early, the rest of the file is hashed against its last 32 bytes to tell an intact
 * file read with the wrong key from a damaged one.
 */
import { createDecipheriv, createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { brotliDecompress } from 'node:zlib';
import { BackupError } from './errors.js';
import {
  BACKUP_FORMAT_VERSION,
  BACKUP_MAGIC,
  CHUNK_PLAIN_BYTES_MAX,
  END_PLAIN_BYTES,
  FRAME_BYTES,
  HEADER_JSON_BYTES_MAX,
  RECORD_BYTES_MAX,
  RecordType,
  SHA256_BYTES,
  TAG_BYTES,
  VERSION_BYTES,
  chunkAad,
  chunkNonce,
  decodeFrame,
  decodeHeaderJson,
  decodePairs,
  encodeVersion,
  endAad,
  endNonce,
  headerAad,
  headerNonce,
  publicHeader,
  sha256,
  type BackupHeader,
  type StoredHeader,
} from './format.js';
import { checkSecret, deriveFileKey, secretKindMismatch, type BackupSecret } from './secret.js';

const decompress = promisify(brotliDecompress);
/** Bytes hashed per read when the rest of a file is checked against its checksum. */
const HASH_READ_BYTES = 1024 * 1024;

export interface OpenedBackup {
  readonly header: BackupHeader;
  /**
   * Every pair, in the order written; call once. Throws a BackupError where the file goes wrong
   * (after yielding the pairs before it: verify a file before acting on it). Ending the iteration
   * early closes the file.
   */
  pairs(): AsyncIterable<[string, Uint8Array]>;
  /** Closes the file (needed only if pairs() is not iterated to its end). */
  close(): Promise<void>;
}

export interface VerifiedBackup {
  readonly header: BackupHeader;
  readonly pairs: number;
  readonly chunks: number;
  /** The file's size. */
  readonly bytes: number;
  /** Hex SHA-256 of the file before its last 32 bytes. */
  readonly sha256: string;
}

/** The file, read forward; every byte taken is hashed. */
class FileSource {
  position = 0;
  readonly hash: Hash = createHash('sha256');

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly name: string,
  ) {}

  get remaining(): number {
    return this.size - this.position;
  }

  /** Exactly `n` bytes, or BackupError 'truncated' naming `what` they were to be. */
  async take(n: number, what: string, hashed = true): Promise<Buffer> {
    if (n > this.remaining) {
      throw new BackupError('truncated', `${this.name}: truncated: the file ends at byte ${this.size}, inside ${what} (bytes ${this.position}-${this.position + n - 1})`);
    }
    const bytes = await this.readAt(this.position, n);
    if (hashed) this.hash.update(bytes);
    this.position += n;
    return bytes;
  }

  /** Whether the file's last 32 bytes are the SHA-256 of everything before them (the position does not move). */
  async intact(): Promise<boolean> {
    const hashedEnd = this.size - SHA256_BYTES;
    if (hashedEnd < this.position) return false;
    const hash = this.hash.copy();
    for (let at = this.position; at < hashedEnd; at += HASH_READ_BYTES) {
      hash.update(await this.readAt(at, Math.min(HASH_READ_BYTES, hashedEnd - at)));
    }
    return hash.digest().equals(await this.readAt(hashedEnd, SHA256_BYTES));
  }

  private async readAt(at: number, n: number): Promise<Buffer> {
    const bytes = Buffer.allocUnsafe(n);
    try {
      for (let read = 0; read < n; ) {
        const { bytesRead } = await this.handle.read(bytes, read, n - read, at + read);
        if (bytesRead === 0) throw new Error(`the file shrank while being read (at byte ${at + read})`);
        read += bytesRead;
      }
    } catch (error) {
      throw new BackupError('io', `${this.name}: reading: ${(error as Error).message}`, { cause: error });
    }
    return bytes;
  }
}

function tampered(source: FileSource, message: string): BackupError {
  return new BackupError('tampered', `${source.name}: damaged or tampered: ${message}`);
}

/** Decrypts and authenticates; undefined if the tag does not verify. */
function unseal(key: Buffer, nonce: Buffer, aad: Buffer, sealed: Buffer): Buffer | undefined {
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([plain, decipher.final()]);
  } catch {
    return undefined;
  }
}

/** Magic and version: a foreign file, a newer format, or this one. */
async function readEnvelope(source: FileSource): Promise<void> {
  if (source.size === 0) throw new BackupError('notABackup', `${source.name}: not a sessionraft backup: the file is empty`);
  const magic = await source.take(Math.min(BACKUP_MAGIC.length, source.size), 'the magic');
  if (!magic.equals(BACKUP_MAGIC.subarray(0, magic.length))) {
    throw new BackupError('notABackup', `${source.name}: not a sessionraft backup (it does not start with "SRBACKUP")`);
  }
  if (magic.length < BACKUP_MAGIC.length) await source.take(BACKUP_MAGIC.length - magic.length, 'the magic');
  const version = (await source.take(VERSION_BYTES, 'the format version')).readUInt16BE(0);
  if (version === BACKUP_FORMAT_VERSION) return;
  if (!(await source.intact())) throw tampered(source, `the format version reads ${version} and the file's SHA-256 does not match its content`);
  if (version > BACKUP_FORMAT_VERSION) {
    throw new BackupError('unsupportedVersion', `${source.name}: backup format version ${version} is newer than this sessionraft reads (${BACKUP_FORMAT_VERSION}): use a newer sessionraft`);
  }
  throw new BackupError('notABackup', `${source.name}: backup format version ${version} does not exist`);
}

interface Opened {
  readonly header: StoredHeader;
  readonly key: Buffer;
  readonly headerHash: Buffer;
}

/** The header record: parsed, then authenticated with the key derived from it and `secret`. */
async function readHeader(source: FileSource, secret: BackupSecret): Promise<Opened> {
  const frameBytes = await source.take(FRAME_BYTES, 'the header frame');
  const frame = decodeFrame(frameBytes);
  if (frame?.type !== RecordType.header || frame.length < TAG_BYTES || frame.length > HEADER_JSON_BYTES_MAX + TAG_BYTES) {
    throw tampered(source, 'the header frame (bytes 10-18) is not valid');
  }
  const json = await source.take(frame.length - TAG_BYTES, 'the header');
  const tag = await source.take(TAG_BYTES, 'the header tag');
  let header: StoredHeader;
  try {
    header = decodeHeaderJson(json);
  } catch (error) {
    throw tampered(source, `the header is not valid: ${(error as Error).message}`);
  }
  const mismatch = secretKindMismatch(secret, header.kdf);
  if (mismatch !== undefined) throw new BackupError('wrongKey', `${source.name}: ${mismatch}`);
  const key = await deriveFileKey(secret, header.kdf, header.salt);
  const headerBytes = Buffer.concat([BACKUP_MAGIC, encodeVersion(BACKUP_FORMAT_VERSION), frameBytes, json]);
  if (unseal(key, headerNonce(), headerAad(headerBytes), tag) === undefined) {
    if (await source.intact()) {
      throw new BackupError('wrongKey', `${source.name}: wrong key or passphrase (the file itself is intact: its SHA-256 matches)`);
    }
    throw tampered(source, "the header's authentication tag does not verify and the file's SHA-256 does not match its content");
  }
  return { header, key, headerHash: sha256(headerBytes) };
}

async function open_(filePath: string, secret: BackupSecret): Promise<{ source: FileSource; handle: FileHandle; opened: Opened }> {
  const checked = checkSecret(secret);
  let handle: FileHandle;
  let size: number;
  try {
    handle = await open(filePath, 'r');
  } catch (error) {
    throw new BackupError('io', `${filePath}: ${(error as Error).message}`, { cause: error });
  }
  try {
    size = (await handle.stat()).size;
    const source = new FileSource(handle, size, filePath);
    await readEnvelope(source);
    return { source, handle, opened: await readHeader(source, checked) };
  } catch (error) {
    await handle.close().catch(() => undefined);
    if (error instanceof BackupError) throw error;
    throw new BackupError('io', `${filePath}: ${(error as Error).message}`, { cause: error });
  }
}

interface Totals {
  readonly pairs: number;
  readonly chunks: number;
  readonly sha256: string;
}

/** A chunk's pairs, after its tag verified. */
async function openChunk(source: FileSource, opened: Opened, seq: number, frameBytes: Buffer, sealed: Buffer, at: number): Promise<Buffer> {
  const compressed = unseal(opened.key, chunkNonce(seq), chunkAad(seq, opened.headerHash, frameBytes), sealed);
  if (compressed === undefined) throw tampered(source, `chunk ${seq} (at byte ${at}) does not authenticate`);
  try {
    return await decompress(compressed, { maxOutputLength: CHUNK_PLAIN_BYTES_MAX });
  } catch (error) {
    throw tampered(source, `chunk ${seq} (at byte ${at}) authenticates but does not decompress: ${(error as Error).message}`);
  }
}

/** The end record, the checksum and nothing after it. */
async function readEnd(source: FileSource, opened: Opened, chunks: number, pairs: number, frameBytes: Buffer, sealed: Buffer, at: number): Promise<Totals> {
  const plain = unseal(opened.key, endNonce(chunks), endAad(chunks, opened.headerHash, frameBytes), sealed);
  if (plain?.length !== END_PLAIN_BYTES) throw tampered(source, `the end record (at byte ${at}) does not authenticate after ${chunks} chunks`);
  const storedPairs = Number(plain.readBigUInt64BE(0));
  const storedChunks = Number(plain.readBigUInt64BE(8));
  if (storedPairs !== pairs || storedChunks !== chunks) {
    throw tampered(source, `the end record counts ${storedPairs} pairs in ${storedChunks} chunks, the file holds ${pairs} in ${chunks}`);
  }
  const digest = source.hash.copy().digest();
  const stored = await source.take(SHA256_BYTES, "the file's SHA-256", false);
  if (!digest.equals(stored)) throw tampered(source, "the file's SHA-256 does not match its last 32 bytes");
  if (source.remaining > 0) throw tampered(source, `${source.remaining} bytes follow the end of the backup`);
  return { pairs, chunks, sha256: digest.toString('hex') };
}

/** Reads every record after the header, yielding the pairs; returns the totals once the file checked out. */
async function* readRecords(source: FileSource, opened: Opened): AsyncGenerator<[string, Uint8Array], Totals> {
  let pairs = 0;
  for (let seq = 0; ; seq++) {
    if (source.remaining === 0) throw new BackupError('truncated', `${source.name}: truncated: the file ends after ${seq} chunks, without its end record`);
    const at = source.position;
    const frameBytes = await source.take(FRAME_BYTES, `the frame of record ${seq + 1} after the header`);
    const frame = decodeFrame(frameBytes);
    if (frame === undefined || frame.length < TAG_BYTES || frame.length > RECORD_BYTES_MAX) throw tampered(source, `the record frame at byte ${at} is not valid`);
    const what = frame.type === RecordType.end ? 'the end record' : `chunk ${seq}`;
    const sealed = await source.take(frame.length, what);
    if (frame.type === RecordType.end) return readEnd(source, opened, seq, pairs, frameBytes, sealed, at);
    if (frame.type !== RecordType.chunk) throw tampered(source, `record type 0x${frame.type.toString(16)} at byte ${at} is not a chunk or the end`);
    const plain = await openChunk(source, opened, seq, frameBytes, sealed, at);
    try {
      for (const pair of decodePairs(plain)) {
        pairs++;
        yield pair;
      }
    } catch (error) {
      if (error instanceof RangeError) throw tampered(source, `chunk ${seq}: ${error.message}`);
      throw error;
    }
  }
}

/** Opens a backup: its header is read and authenticated now, its pairs as they are iterated. */
export async function openBackup(filePath: string, secret: BackupSecret): Promise<OpenedBackup> {
  const { source, handle, opened } = await open_(filePath, secret);
  let started = false;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await handle.close().catch(() => undefined);
  };
  return {
    header: publicHeader(opened.header),
    pairs(): AsyncIterable<[string, Uint8Array]> {
      if (started) throw new Error('pairs() of an opened backup can be iterated once');
      started = true;
      return (async function* () {
        try {
          return yield* readRecords(source, opened);
        } finally {
          await close();
        }
      })();
    },
    close,
  };
}

/** Reads and checks the whole file; its header and totals, or a BackupError. */
export async function verifyBackupReport(filePath: string, secret: BackupSecret): Promise<VerifiedBackup> {
  const { source, handle, opened } = await open_(filePath, secret);
  try {
    const records = readRecords(source, opened);
    let next = await records.next();
    while (!next.done) next = await records.next();
    return { header: publicHeader(opened.header), pairs: next.value.pairs, chunks: next.value.chunks, bytes: source.size, sha256: next.value.sha256 };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Reads everything; the header if the file is whole, authentic and opened by `secret`, else throws BackupError. */
export async function verifyBackup(filePath: string, secret: BackupSecret): Promise<BackupHeader> {
  return (await verifyBackupReport(filePath, secret)).header;
}
