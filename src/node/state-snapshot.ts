/**
 * The node's snapshot data: the state machine's key-value pairs exactly as LevelDB holds them,
 * framed. It is read from a LevelDB iterator (a consistent view as of the iterator's creation), so
 * taking a snapshot costs the event loop almost nothing, instead of encoding the whole in-memory
 * state in one synchronous call (323 ms for 90,000 sessions here, and it grows with the state).
 * It is produced and consumed as a stream of chunks: never one buffer of the whole state.
 *
 * Layout: "SRKV1" then, per pair, u32 BE key length, key (UTF-8), u32 BE value length, value.
 */
import { unpack } from 'msgpackr';
import type { LogIndex } from '../raft/index.js';
import { APPLIED_KEY } from '../session/index.js';
import { invariant } from './invariant.js';

const MAGIC = Buffer.from('SRKV1', 'ascii');
/** Pairs encoded between two yields to the event loop. */
const PAIRS_PER_SLICE_MAX = 2_048;

/** Bytes of one chunk of encoded pairs at most (a pair larger than that gets a chunk of its own). */
export const STATE_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

/**
 * Encodes every pair of `entries` (a fresh LevelDB iterator over the state) as chunks of about
 * `chunkBytes`, yielding to the event loop between chunks (and every PAIRS_PER_SLICE_MAX pairs),
 * so a state of any size is never held whole and never blocks the loop for long. After the last
 * pair it checks that the view was the state at `expectedIndex` (it throws instead of ending):
 * a snapshot that claims an index it does not hold would corrupt every follower that installs it.
 */
export async function* encodeStateSnapshotChunks(
  entries: AsyncIterable<readonly [string, Uint8Array]>,
  expectedIndex: LogIndex,
  chunkBytes = STATE_SNAPSHOT_CHUNK_BYTES,
): AsyncGenerator<Uint8Array> {
  // Pairs are written straight into the chunk: no small buffers per pair, so taking a snapshot
  // of a large state adds little to the young generation's collections (each one pauses the
  // loop, and with a large heap each pause is several milliseconds).
  let chunk = Buffer.allocUnsafeSlow(chunkBytes);
  let used = MAGIC.copy(chunk, 0);
  let applied: number | undefined;
  let pairs = 0;
  for await (const [key, value] of entries) {
    const pairBytes = 8 + Buffer.byteLength(key, 'utf8') + value.length;
    if (used + pairBytes > chunk.length) {
      if (used > 0) {
        yield chunk.subarray(0, used);
        await new Promise((resolve) => setImmediate(resolve));
      }
      chunk = Buffer.allocUnsafeSlow(Math.max(chunkBytes, pairBytes));
      used = 0;
    } else if (++pairs % PAIRS_PER_SLICE_MAX === 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const keyLength = chunk.write(key, used + 4, 'utf8');
    chunk.writeUInt32BE(keyLength, used);
    chunk.writeUInt32BE(value.length, used + 4 + keyLength);
    chunk.set(value, used + 8 + keyLength);
    used += 8 + keyLength + value.length;
    if (key === APPLIED_KEY) applied = unpack(value) as number;
  }
  invariant(applied === expectedIndex, () => `the state read for snapshot ${expectedIndex} is at applied index ${String(applied)}`);
  if (used > 0) yield chunk.subarray(0, used);
}

/** encodeStateSnapshotChunks in one buffer: small states only (tests, tools). */
export async function encodeStateSnapshot(entries: AsyncIterable<readonly [string, Uint8Array]>, expectedIndex: LogIndex): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of encodeStateSnapshotChunks(entries, expectedIndex)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * The pairs of snapshot data arriving in chunks of any size (a pair may span chunks); throws on
 * anything encodeStateSnapshotChunks did not make. At most one chunk and one pair are held.
 */
export async function* decodeStateSnapshotChunks(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<[string, Uint8Array]> {
  let carry: Buffer = Buffer.alloc(0);
  let consumed = 0; // bytes before `carry`
  let sawMagic = false;
  for await (const chunk of chunks) {
    let bytes = carry.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([carry, chunk]);
    if (!sawMagic) {
      if (bytes.length < MAGIC.length) {
        carry = Buffer.from(bytes);
        continue;
      }
      if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('snapshot data is not a sessionraft state snapshot (bad magic)');
      sawMagic = true;
      bytes = bytes.subarray(MAGIC.length);
      consumed += MAGIC.length;
    }
    let at = 0;
    for (;;) {
      if (at + 4 > bytes.length) break;
      const keyLength = bytes.readUInt32BE(at);
      if (at + 4 + keyLength + 4 > bytes.length) break;
      const valueLength = bytes.readUInt32BE(at + 4 + keyLength);
      const end = at + 4 + keyLength + 4 + valueLength;
      if (end > bytes.length) break;
      const key = bytes.toString('utf8', at + 4, at + 4 + keyLength);
      yield [key, new Uint8Array(bytes.buffer, bytes.byteOffset + at + 8 + keyLength, valueLength)];
      at = end;
    }
    consumed += at;
    // A copy: the rest must not pin the whole chunk (nor change if the producer reuses it).
    carry = Buffer.from(bytes.subarray(at));
  }
  if (!sawMagic) throw new Error('snapshot data is not a sessionraft state snapshot (bad magic)');
  if (carry.length > 0) throw new Error(`snapshot data truncated at byte ${consumed}: ${carry.length} bytes of an incomplete pair`);
}

/** The pairs of a snapshot in one buffer (decodeStateSnapshotChunks over one chunk). */
export function* decodeStateSnapshot(data: Uint8Array): Generator<[string, Uint8Array]> {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error('snapshot data is not a sessionraft state snapshot (bad magic)');
  }
  let at = MAGIC.length;
  while (at < bytes.length) {
    const keyLength = readLength(bytes, at, 'key');
    const key = bytes.toString('utf8', at + 4, at + 4 + keyLength);
    at += 4 + keyLength;
    const valueLength = readLength(bytes, at, 'value');
    yield [key, new Uint8Array(bytes.buffer, bytes.byteOffset + at + 4, valueLength)];
    at += 4 + valueLength;
  }
}

function readLength(bytes: Buffer, at: number, what: string): number {
  if (at + 4 > bytes.length) throw new Error(`snapshot data truncated at byte ${at} (${what} length)`);
  const length = bytes.readUInt32BE(at);
  if (at + 4 + length > bytes.length) throw new Error(`snapshot data truncated at byte ${at}: ${what} of ${length} bytes`);
  return length;
}
