/**
 * The backup file format, version 1: its constants, header, record framing, nonces, associated
 * data and pair encoding. The reader and the writer share these and nothing else.
 *
 * ```
 * "SRBACKUP"  u16 version                                     the envelope of every version
 * frame('H', n)  header JSON  header tag (16)                 authenticated, not encrypted
 * frame('C', n)  AES-256-GCM(brotli(pairs))  tag (16)         × chunks, seq 0, 1, 2...
 * frame('E', n)  AES-256-GCM(pairs u64, chunks u64, plainBytes u64)  tag (16)
 * SHA-256 of every byte before it (32)                        the envelope of every version
 * ```
 *
 * frame(type, n) = type (1 byte) | n (u32 BE: the bytes that follow, tag included) | the first 4
 * bytes of SHA-256(type | n), so a damaged length reads as damage, not as a truncated file.
 * Integers are big-endian.
 */
import { createHash } from 'node:crypto';

export const BACKUP_MAGIC = Buffer.from('SRBACKUP', 'ascii');
/** The format this code writes and reads. */
export const BACKUP_FORMAT_VERSION = 1;
export const VERSION_BYTES = 2;
export const FRAME_BYTES = 9;
export const TAG_BYTES = 16;
export const SHA256_BYTES = 32;
export const SALT_BYTES = 32;
export const NONCE_BYTES = 12;
export const END_PLAIN_BYTES = 24;

/** The header's JSON, at most (members and a cluster id: far below). */
export const HEADER_JSON_BYTES_MAX = 1024 * 1024;
/** A chunk is cut once its pairs reach this many bytes (before compression). @default 1 MiB */
export const CHUNK_PLAIN_BYTES_TARGET_DEFAULT = 1024 * 1024;
/** A chunk's pairs, at most: one pair larger than this cannot be backed up. */
export const CHUNK_PLAIN_BYTES_MAX = 64 * 1024 * 1024;
/** A record's length, at most: a compressed chunk of CHUNK_PLAIN_BYTES_MAX plus brotli's worst-case growth. */
export const RECORD_BYTES_MAX = CHUNK_PLAIN_BYTES_MAX + 1024 * 1024;

/** brotli at quality 4 (measured against deflate and other qualities: src/backup/README.md). */
export const BROTLI_QUALITY = 4;

export const RecordType = Object.freeze({ header: 0x48, chunk: 0x43, end: 0x45 });
export type RecordTypeCode = (typeof RecordType)[keyof typeof RecordType];

/** Nonce kinds: a nonce is kind (u32) | seq (u64), unique per file key (itself unique per file). */
const NonceKind = Object.freeze({ header: 1, chunk: 2, end: 3 });

export interface BackupMember {
  readonly id: number;
  readonly address: string;
  readonly voter: boolean;
}

export interface BackupHeader {
  readonly formatVersion: number;
  readonly clusterId: string;
  /** The state's applied index: the copy is the state machine at exactly this index. */
  readonly index: number;
  /** The source node's Raft term when the copy was taken. */
  readonly term: number;
  readonly members: readonly BackupMember[];
  readonly createdAtMs: number;
  /** Sessions in the copy (the `s/` pairs), expired ones not yet swept included. */
  readonly sessionCount: number;
  /**
   * The source's state digest at `index` (Status's state_digest): a state machine loaded from the
   * pairs must have it. Absent when the writer did not know it.
   */
  readonly stateDigest?: string;
}

/**
 * How the file key comes from the secret: `keyFile` = the 32-byte key; `scrypt` = the
 * passphrase stretched with scrypt (N = cost, r = blockSize, p = parallelization). Either way
 * HKDF-SHA256 with the file's salt then gives the AES-256-GCM key of this one file.
 */
export type KdfParams =
  | { readonly name: 'keyFile' }
  | { readonly name: 'scrypt'; readonly cost: number; readonly blockSize: number; readonly parallelization: number };

/** The header as stored: the public fields plus what decryption needs. */
export interface StoredHeader extends BackupHeader {
  readonly kdf: KdfParams;
  readonly salt: Uint8Array;
  readonly compression: 'brotli';
  readonly cipher: 'aes-256-gcm';
}

/** scrypt parameters a reader accepts (a damaged header must not ask for gigabytes). */
export const SCRYPT_LIMITS = Object.freeze({ costMin: 2 ** 10, costMax: 2 ** 20, blockSizeMax: 32, parallelizationMax: 16, memoryBytesMax: 1024 ** 3 });

export function scryptMemoryBytes(cost: number, blockSize: number): number {
  return 128 * cost * blockSize;
}

function frameCheck(type: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(5);
  bytes.writeUInt8(type, 0);
  bytes.writeUInt32BE(length, 1);
  return createHash('sha256').update(bytes).digest().subarray(0, 4);
}

export function encodeFrame(type: RecordTypeCode, length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < TAG_BYTES || length > RECORD_BYTES_MAX) {
    throw new RangeError(`record length ${length} outside [${TAG_BYTES}, ${RECORD_BYTES_MAX}]`);
  }
  const frame = Buffer.allocUnsafe(FRAME_BYTES);
  frame.writeUInt8(type, 0);
  frame.writeUInt32BE(length, 1);
  frameCheck(type, length).copy(frame, 5);
  return frame;
}

/** The frame's type and length, or undefined if its check does not match (a damaged frame). */
export function decodeFrame(frame: Uint8Array): { readonly type: number; readonly length: number } | undefined {
  const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const type = bytes.readUInt8(0);
  const length = bytes.readUInt32BE(1);
  return frameCheck(type, length).equals(bytes.subarray(5, FRAME_BYTES)) ? { type, length } : undefined;
}

function nonce(kind: number, seq: number): Buffer {
  const bytes = Buffer.alloc(NONCE_BYTES);
  bytes.writeUInt32BE(kind, 0);
  bytes.writeBigUInt64BE(BigInt(seq), 4);
  return bytes;
}

export const headerNonce = (): Buffer => nonce(NonceKind.header, 0);
export const chunkNonce = (seq: number): Buffer => nonce(NonceKind.chunk, seq);
export const endNonce = (chunks: number): Buffer => nonce(NonceKind.end, chunks);

function aad(label: string, seq: number, headerHash: Uint8Array, frame: Uint8Array): Buffer {
  const seqBytes = Buffer.allocUnsafe(8);
  seqBytes.writeBigUInt64BE(BigInt(seq));
  return Buffer.concat([Buffer.from(label, 'ascii'), seqBytes, headerHash, frame]);
}

/** A chunk's associated data: its place in the file and the file's header (no reorder, drop, swap). */
export const chunkAad = (seq: number, headerHash: Uint8Array, frame: Uint8Array): Buffer => aad('sessionraft-backup/chunk', seq, headerHash, frame);
/** The end record's: the number of chunks before it, so none can be dropped from the end. */
export const endAad = (chunks: number, headerHash: Uint8Array, frame: Uint8Array): Buffer => aad('sessionraft-backup/end', chunks, headerHash, frame);
/** The header tag's: every byte of the file up to the end of the header JSON. */
export const headerAad = (headerBytes: Uint8Array): Buffer => Buffer.concat([Buffer.from('sessionraft-backup/header', 'ascii'), headerBytes]);

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

export function encodeVersion(version: number): Buffer {
  const bytes = Buffer.allocUnsafe(VERSION_BYTES);
  bytes.writeUInt16BE(version);
  return bytes;
}

/** The header's JSON text, fields in a fixed order. */
export function encodeHeaderJson(header: StoredHeader): Buffer {
  const json = {
    formatVersion: header.formatVersion,
    clusterId: header.clusterId,
    index: header.index,
    term: header.term,
    members: header.members.map((m) => ({ id: m.id, address: m.address, voter: m.voter })),
    createdAtMs: header.createdAtMs,
    sessionCount: header.sessionCount,
    ...(header.stateDigest !== undefined ? { stateDigest: header.stateDigest } : {}),
    kdf: header.kdf,
    salt: Buffer.from(header.salt).toString('hex'),
    compression: header.compression,
    cipher: header.cipher,
  };
  const bytes = Buffer.from(JSON.stringify(json), 'utf8');
  if (bytes.length > HEADER_JSON_BYTES_MAX) throw new RangeError(`the backup header is ${bytes.length} bytes, over ${HEADER_JSON_BYTES_MAX}`);
  return bytes;
}

/** Throws a RangeError naming the first field that is not what the writer accepts. */
export function checkHeaderFields(header: Omit<BackupHeader, 'formatVersion'>): void {
  const count = (name: string, value: unknown): void => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`header.${name} must be an integer >= 0, got ${String(value)}`);
    }
  };
  if (typeof header.clusterId !== 'string' || header.clusterId.length === 0) {
    throw new RangeError(`header.clusterId must be a non-empty string, got ${JSON.stringify(header.clusterId)}`);
  }
  count('index', header.index);
  count('term', header.term);
  count('createdAtMs', header.createdAtMs);
  count('sessionCount', header.sessionCount);
  if (header.stateDigest !== undefined && (typeof header.stateDigest !== 'string' || !/^[0-9a-f]{64}$/.test(header.stateDigest))) {
    throw new RangeError(`header.stateDigest must be 64 lowercase hex characters, got ${JSON.stringify(header.stateDigest)}`);
  }
  if (!Array.isArray(header.members)) throw new RangeError('header.members must be an array');
  for (const [i, member] of header.members.entries()) {
    count(`members[${i}].id`, member.id);
    if (typeof member.address !== 'string') throw new RangeError(`header.members[${i}].address must be a string`);
    if (typeof member.voter !== 'boolean') throw new RangeError(`header.members[${i}].voter must be a boolean`);
  }
}

/** The kdf parameters as a reader accepts them; a RangeError otherwise. */
export function checkKdf(kdf: unknown): KdfParams {
  const value = (typeof kdf === 'object' && kdf !== null ? kdf : {}) as Record<string, unknown>;
  if (value.name === 'keyFile') return { name: 'keyFile' };
  if (value.name !== 'scrypt') throw new RangeError(`kdf: unknown ${JSON.stringify(kdf)}`);
  const integer = (name: string, min: number, max: number): number => {
    const n = value[name];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new RangeError(`kdf: scrypt ${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(n)}`);
    }
    return n;
  };
  const limits = SCRYPT_LIMITS;
  const cost = integer('cost', limits.costMin, limits.costMax);
  const blockSize = integer('blockSize', 1, limits.blockSizeMax);
  const parallelization = integer('parallelization', 1, limits.parallelizationMax);
  if ((cost & (cost - 1)) !== 0) throw new RangeError(`kdf: scrypt cost must be a power of 2, got ${cost}`);
  if (scryptMemoryBytes(cost, blockSize) > limits.memoryBytesMax) throw new RangeError(`kdf: scrypt would need over ${limits.memoryBytesMax} bytes`);
  return { name: 'scrypt', cost, blockSize, parallelization };
}

/** The stored header from its JSON; throws a RangeError saying what is wrong with it. */
export function decodeHeaderJson(bytes: Uint8Array): StoredHeader {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  } catch (error) {
    throw new RangeError(`the header is not JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object') throw new RangeError('the header is not a JSON object');
  checkHeaderFields(parsed as unknown as BackupHeader);
  const salt = typeof parsed.salt === 'string' && /^[0-9a-f]+$/.test(parsed.salt) ? Buffer.from(parsed.salt, 'hex') : undefined;
  if (salt?.length !== SALT_BYTES) throw new RangeError(`salt: expected ${SALT_BYTES} bytes of hex`);
  if (parsed.formatVersion !== BACKUP_FORMAT_VERSION) throw new RangeError(`formatVersion ${String(parsed.formatVersion)} does not match the envelope's ${BACKUP_FORMAT_VERSION}`);
  if (parsed.compression !== 'brotli') throw new RangeError(`compression: unknown ${JSON.stringify(parsed.compression)}`);
  if (parsed.cipher !== 'aes-256-gcm') throw new RangeError(`cipher: unknown ${JSON.stringify(parsed.cipher)}`);
  const members = (parsed.members as BackupMember[]).map((m) => Object.freeze({ id: m.id, address: m.address, voter: m.voter }));
  return Object.freeze({
    formatVersion: BACKUP_FORMAT_VERSION,
    clusterId: parsed.clusterId as string,
    index: parsed.index as number,
    term: parsed.term as number,
    members: Object.freeze(members),
    createdAtMs: parsed.createdAtMs as number,
    sessionCount: parsed.sessionCount as number,
    ...(parsed.stateDigest !== undefined ? { stateDigest: parsed.stateDigest as string } : {}),
    kdf: Object.freeze(checkKdf(parsed.kdf)),
    salt,
    compression: 'brotli',
    cipher: 'aes-256-gcm',
  });
}

/** The public part of a stored header. */
export function publicHeader(stored: StoredHeader): BackupHeader {
  const { formatVersion, clusterId, index, term, members, createdAtMs, sessionCount, stateDigest } = stored;
  return Object.freeze({ formatVersion, clusterId, index, term, members, createdAtMs, sessionCount, ...(stateDigest !== undefined ? { stateDigest } : {}) });
}

/** One pair's bytes in a chunk: u32 key length, key (UTF-8), u32 value length, value. */
export function encodePair(key: string, value: Uint8Array): Buffer[] {
  const keyBytes = Buffer.from(key, 'utf8');
  const keyLength = Buffer.allocUnsafe(4);
  keyLength.writeUInt32BE(keyBytes.length);
  const valueLength = Buffer.allocUnsafe(4);
  valueLength.writeUInt32BE(value.byteLength);
  return [keyLength, keyBytes, valueLength, Buffer.from(value.buffer, value.byteOffset, value.byteLength)];
}

/** The pairs of a chunk's plaintext; throws a RangeError if it is not a whole number of pairs. */
export function* decodePairs(plain: Buffer): Generator<[string, Uint8Array]> {
  let at = 0;
  const length = (what: string): number => {
    if (at + 4 > plain.length) throw new RangeError(`chunk plaintext ends inside a ${what} length at byte ${at}`);
    const n = plain.readUInt32BE(at);
    if (at + 4 + n > plain.length) throw new RangeError(`chunk plaintext ends inside a ${what} of ${n} bytes at byte ${at}`);
    at += 4;
    return n;
  };
  while (at < plain.length) {
    const keyLength = length('key');
    const key = plain.toString('utf8', at, at + keyLength);
    at += keyLength;
    const valueLength = length('value');
    yield [key, new Uint8Array(plain.buffer, plain.byteOffset + at, valueLength)];
    at += valueLength;
  }
}
