/**
 * The backup file format: round trips, and a clear BackupError for each way a file can be
 * wrong (wrong key, truncated, a changed byte anywhere, chunks reordered, dropped or swapped
 * between files, a foreign file, a newer format), checked at every byte of a small file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BackupError,
  openBackup,
  verifyBackup,
  verifyBackupReport,
  writeBackup,
  type BackupErrorCode,
  type BackupHeader,
  type BackupSecret,
} from '../../../src/backup/index.js';
import { FRAME_BYTES, decodeFrame } from '../../../src/backup/format.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-backup-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY: BackupSecret = { key: Uint8Array.from(randomBytes(32)) };
const OTHER_KEY: BackupSecret = { key: Uint8Array.from(randomBytes(32)) };
/** Cheap scrypt for tests (the default, 2^17, is exercised once below). */
const FAST_SCRYPT = { name: 'scrypt', cost: 1024, blockSize: 8, parallelization: 1 } as const;

const HEADER: Omit<BackupHeader, 'formatVersion'> = {
  clusterId: 'cluster-a',
  index: 1234,
  term: 7,
  members: [
    { id: 1, address: '127.0.0.1:7001', voter: true },
    { id: 2, address: '127.0.0.1:7002', voter: true },
    { id: 4, address: '127.0.0.1:7004', voter: false },
  ],
  createdAtMs: 1_790_000_000_000,
  sessionCount: 3,
  stateDigest: 'c0ffee'.repeat(10) + 'abcd',
};

let fileSeq = 0;
function newPath(name = 'b'): string {
  return path.join(dir, `${name}-${fileSeq++}.srb`);
}

function samplePairs(count: number, valueBytes = 40): [string, Uint8Array][] {
  return Array.from({ length: count }, (_, i) => [`s/${String(i).padStart(6, '0')}`, Uint8Array.from(randomBytes(valueBytes))]);
}

async function* asAsync<T>(items: Iterable<T>): AsyncIterable<T> {
  for (const item of items) yield item;
}

async function readAll(file: string, secret: BackupSecret): Promise<[string, Uint8Array][]> {
  const opened = await openBackup(file, secret);
  const pairs: [string, Uint8Array][] = [];
  for await (const [key, value] of opened.pairs()) pairs.push([key, Uint8Array.from(value)]);
  return pairs;
}

async function errorOf(promise: Promise<unknown>): Promise<BackupError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BackupError) return error;
    throw error;
  }
  throw new Error('expected a BackupError, the promise resolved');
}

/** A small file of several chunks (a tiny chunk target), written once and mutated by the tests. */
async function smallFile(secret: BackupSecret = KEY, pairs = samplePairs(12)): Promise<{ file: string; bytes: Buffer; pairs: [string, Uint8Array][] }> {
  const file = newPath('small');
  await writeBackup(file, HEADER, asAsync(pairs), secret, undefined, { chunkPlainBytesTarget: 150, scrypt: FAST_SCRYPT });
  return { file, bytes: readFileSync(file), pairs };
}

/** The records of a file: [offset, total length] of the header record, each chunk and the end record. */
function records(bytes: Buffer): { at: number; length: number; type: number }[] {
  const found: { at: number; length: number; type: number }[] = [];
  for (let at = 10; at < bytes.length - 32; ) {
    const frame = decodeFrame(bytes.subarray(at, at + FRAME_BYTES));
    if (!frame) throw new Error(`no frame at ${at}`);
    found.push({ at, length: FRAME_BYTES + frame.length, type: frame.type });
    at += FRAME_BYTES + frame.length;
  }
  return found;
}

/** The file with its trailing SHA-256 recomputed over its (changed) content. */
function withChecksum(body: Buffer): Buffer {
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

function writeVariant(bytes: Buffer): string {
  const file = newPath('variant');
  writeFileSync(file, bytes);
  return file;
}

describe('round trip', () => {
  it('gives back every pair in order, the header, and totals equal to what was written', async () => {
    const pairs = samplePairs(5_000, 100);
    const file = newPath();
    const progress: { pairs: number; bytes: number }[] = [];
    const written = await writeBackup(file, HEADER, asAsync(pairs), KEY, (p) => progress.push(p), { chunkPlainBytesTarget: 64 * 1024 });
    expect(written.pairs).toBe(5_000);
    expect(written.bytes).toBe(statSync(file).size);
    expect(written.sha256).toBe(createHash('sha256').update(readFileSync(file).subarray(0, written.bytes - 32)).digest('hex'));
    expect(progress.length).toBeGreaterThan(5);
    expect(progress.at(-1)).toEqual({ pairs: 5_000, bytes: written.bytes });
    expect(progress.map((p) => p.pairs)).toEqual([...progress.map((p) => p.pairs)].sort((a, b) => a - b));

    const opened = await openBackup(file, KEY);
    expect(opened.header).toEqual({ ...HEADER, formatVersion: 1 });
    const back = await readAll(file, KEY);
    expect(back.length).toBe(pairs.length);
    for (const [i, [key, value]] of back.entries()) {
      expect(key).toBe(pairs[i]![0]);
      expect(Buffer.from(value).equals(Buffer.from(pairs[i]![1]))).toBe(true);
    }
    await opened.close();
    const report = await verifyBackupReport(file, KEY);
    expect(report).toMatchObject({ pairs: 5_000, bytes: written.bytes, sha256: written.sha256 });
    expect(report.chunks).toBeGreaterThan(5);
    expect(await verifyBackup(file, KEY)).toEqual({ ...HEADER, formatVersion: 1 });
    expect(existsSync(`${file}.tmp`)).toBe(false);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('handles no pairs, an empty value, a non-ASCII key, and a value larger than a chunk', async () => {
    const empty = newPath();
    const { stateDigest: _, ...withoutDigest } = HEADER;
    await writeBackup(empty, { ...withoutDigest, sessionCount: 0, members: [] }, asAsync([]), KEY);
    expect((await openBackup(empty, KEY)).header).toEqual({ ...withoutDigest, sessionCount: 0, members: [], formatVersion: 1 });
    expect(await readAll(empty, KEY)).toEqual([]);
    expect((await verifyBackupReport(empty, KEY)).chunks).toBe(0);

    const big = Uint8Array.from(randomBytes(3 * 1024 * 1024));
    const pairs: [string, Uint8Array][] = [['d/é/ü', new Uint8Array(0)], ['m/applied', big], ['s/x', Uint8Array.of(1, 2, 3)]];
    const file = newPath();
    await writeBackup(file, HEADER, asAsync(pairs), KEY);
    const back = await readAll(file, KEY);
    expect(back.map(([k]) => k)).toEqual(['d/é/ü', 'm/applied', 's/x']);
    expect(Buffer.from(back[1]![1]).equals(Buffer.from(big))).toBe(true);
  });

  it('compresses: session-like values take a fraction of their size', async () => {
    const value = Buffer.from(JSON.stringify({ clientId: 'user-42', transport: 'http', data: { cart: [1, 2, 3], locale: 'en-US' }, ttlMs: 3_600_000 }));
    const pairs = Array.from({ length: 5_000 }, (_, i): [string, Uint8Array] => [`s/${i}`, value]);
    const file = newPath();
    const written = await writeBackup(file, HEADER, asAsync(pairs), KEY);
    expect(written.bytes).toBeLessThan((5_000 * value.length) / 5);
  });

  it('opens a passphrase backup with the passphrase, under the default scrypt cost', async () => {
    const secret = { passphrase: 'correct horse battery staple' };
    const file = newPath();
    await writeBackup(file, HEADER, asAsync(samplePairs(10)), secret);
    const header = JSON.parse(readFileSync(file).subarray(19, 19 + readFileSync(file).readUInt32BE(11) - 16).toString('utf8')) as { kdf: unknown };
    expect(header.kdf).toEqual({ name: 'scrypt', cost: 2 ** 17, blockSize: 8, parallelization: 1 });
    expect((await verifyBackupReport(file, secret)).pairs).toBe(10);
    const wrong = await errorOf(verifyBackup(file, { passphrase: 'correct horse battery stapler' }));
    expect(wrong.code).toBe('wrongKey');
    expect(wrong.message).toContain('wrong key or passphrase');
  }, 30_000);

  it('leaves nothing behind and rethrows when the pairs fail midway', async () => {
    const file = newPath();
    async function* failing(): AsyncIterable<[string, Uint8Array]> {
      yield* samplePairs(3_000, 200);
      throw new Error('the stream broke');
    }
    await expect(writeBackup(file, HEADER, failing(), KEY, undefined, { chunkPlainBytesTarget: 4096 })).rejects.toThrow('the stream broke');
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });

  it('refuses a bad header or secret before writing anything', async () => {
    const file = newPath();
    await expect(writeBackup(file, { ...HEADER, index: -1 }, asAsync([]), KEY)).rejects.toThrow(/header.index must be an integer >= 0/);
    await expect(writeBackup(file, { ...HEADER, clusterId: '' }, asAsync([]), KEY)).rejects.toThrow(/clusterId/);
    await expect(writeBackup(file, { ...HEADER, stateDigest: 'xyz' }, asAsync([]), KEY)).rejects.toThrow(/stateDigest must be 64/);
    await expect(writeBackup(file, HEADER, asAsync([]), { key: new Uint8Array(16) })).rejects.toThrow(/must be 32 bytes, got 16/);
    await expect(writeBackup(file, HEADER, asAsync([]), { passphrase: 'short' })).rejects.toThrow(/at least 12 characters/);
    expect(readdirSync(dir).filter((f) => f.startsWith(path.basename(file)))).toEqual([]);
  });
});

describe('refusals', () => {
  it('says "wrong key or passphrase" for another key, and names the secret kind that is needed', async () => {
    const { file } = await smallFile();
    const wrong = await errorOf(verifyBackup(file, OTHER_KEY));
    expect(wrong.code).toBe('wrongKey');
    expect(wrong.message).toMatch(/wrong key or passphrase/);
    expect((await errorOf(openBackup(file, OTHER_KEY))).code).toBe('wrongKey');
    const kind = await errorOf(verifyBackup(file, { passphrase: 'a passphrase that is long' }));
    expect(kind.code).toBe('wrongKey');
    expect(kind.message).toContain('encrypted with a key file');

    const { file: phrased } = await smallFile({ passphrase: 'a passphrase that is long' });
    const needsPhrase = await errorOf(verifyBackup(phrased, KEY));
    expect(needsPhrase.code).toBe('wrongKey');
    expect(needsPhrase.message).toContain('--passphrase-env');
  });

  it('says "truncated" at every length the file is cut to', async () => {
    const { bytes } = await smallFile();
    expect(records(bytes).length).toBeGreaterThan(5);
    const codes = new Map<BackupErrorCode, number>();
    for (let length = 1; length < bytes.length; length++) {
      const error = await errorOf(verifyBackup(writeVariant(bytes.subarray(0, length)), KEY));
      codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
      if (error.code !== 'truncated') throw new Error(`cut to ${length} of ${bytes.length} bytes: ${error.code}: ${error.message}`);
    }
    expect([...codes.keys()]).toEqual(['truncated']);
    const empty = await errorOf(verifyBackup(writeVariant(Buffer.alloc(0)), KEY));
    expect(empty.code).toBe('notABackup');
  });

  it('says "tampered" for one flipped byte at every position past the magic (and openBackup fails too)', async () => {
    const { bytes, pairs } = await smallFile();
    for (let at = 0; at < bytes.length; at++) {
      const changed = Buffer.from(bytes);
      changed.writeUInt8(changed.readUInt8(at) ^ (0x01 << at % 8), at);
      const file = writeVariant(changed);
      const error = await errorOf(verifyBackup(file, KEY));
      const expected: BackupErrorCode = at < 8 ? 'notABackup' : 'tampered';
      if (error.code !== expected) throw new Error(`byte ${at} of ${bytes.length} flipped: ${error.code}: ${error.message}`);
      // Streaming reads stop at the damage too: never a changed pair, never all pairs then success.
      const streamed = (async () => {
        const opened = await openBackup(file, KEY);
        for await (const [key, value] of opened.pairs()) {
          const original = pairs.find(([k]) => k === key);
          if (!original || !Buffer.from(original[1]).equals(Buffer.from(value))) throw new Error(`byte ${at}: a changed pair came out`);
        }
      })();
      const streamError = await errorOf(streamed);
      expect(streamError.code).toBe(expected);
    }
  });

  it('says "tampered" for reordered, dropped and foreign chunks, even with the checksum recomputed', async () => {
    const { bytes } = await smallFile();
    const all = records(bytes);
    const chunks = all.filter((r) => r.type === 0x43);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    const body = bytes.subarray(0, bytes.length - 32);
    const slice = (r: { at: number; length: number }): Buffer => body.subarray(r.at, r.at + r.length);
    const head = body.subarray(0, chunks[0]!.at);
    const end = slice(all.at(-1)!);

    const swapped = Buffer.concat([head, slice(chunks[1]!), slice(chunks[0]!), ...chunks.slice(2).map(slice), end]);
    const dropped = Buffer.concat([head, ...chunks.slice(1).map(slice), end]);
    const droppedLast = Buffer.concat([head, ...chunks.slice(0, -1).map(slice), end]);
    const noEnd = Buffer.concat([head, ...chunks.map(slice)]);

    const { bytes: other } = await smallFile();
    const otherChunks = records(other).filter((r) => r.type === 0x43);
    const foreign = Buffer.concat([head, other.subarray(otherChunks[0]!.at, otherChunks[0]!.at + otherChunks[0]!.length), ...chunks.slice(1).map(slice), end]);

    for (const [name, variant] of Object.entries({ swapped, dropped, droppedLast, foreign })) {
      const error = await errorOf(verifyBackup(writeVariant(withChecksum(variant)), KEY));
      expect(error.code, `${name}: ${error.message}`).toBe('tampered');
    }
    // Without its end record the file reads as cut short.
    expect((await errorOf(verifyBackup(writeVariant(noEnd), KEY))).code).toBe('truncated');
    // Bytes after the end.
    const extra = await errorOf(verifyBackup(writeVariant(Buffer.concat([bytes, Buffer.from('x')])), KEY));
    expect(extra.code).toBe('tampered');
  });

  it('says "notABackup" for foreign files', async () => {
    for (const content of [Buffer.from('{"hello":"world"}\n'), randomBytes(4096), Buffer.from('SRKV1 snapshot')]) {
      const error = await errorOf(verifyBackup(writeVariant(content), KEY));
      expect(error.code).toBe('notABackup');
      expect(error.message).toContain('not a sessionraft backup');
    }
    const missing = await errorOf(verifyBackup(path.join(dir, 'no-such-file'), KEY));
    expect(missing.code).toBe('io');
    expect(missing.message).toContain('ENOENT');
  });

  it('says "unsupportedVersion" for an intact file of a newer format, "tampered" if its checksum does not match', async () => {
    const { bytes } = await smallFile();
    const newer = Buffer.from(bytes.subarray(0, bytes.length - 32));
    newer.writeUInt16BE(2, 8);
    const intact = await errorOf(verifyBackup(writeVariant(withChecksum(newer)), KEY));
    expect(intact.code).toBe('unsupportedVersion');
    expect(intact.message).toContain('format version 2 is newer');
    const damaged = await errorOf(verifyBackup(writeVariant(Buffer.concat([newer, bytes.subarray(bytes.length - 32)])), KEY));
    expect(damaged.code).toBe('tampered');
  });
});
