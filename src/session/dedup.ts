/**
 * The exactly-once table: the answer given to each recent (clientId, seq) request id, so a
 * retried write gets its first answer instead of being applied twice. It is replicated state
 * (every replica evicts the same records at the same log index) and bounded three ways:
 * entries per request client, entries in all, and estimated bytes in all. Eviction is always
 * oldest-first by the log index the request was applied at.
 */
import type { LogIndex } from '../raft/index.js';
import { packValue } from './codec.js';
import { SetHash, sha256Big } from './digest.js';
import type { CommandResult } from './types.js';
import { jsonBytes } from './validate.js';

export interface DedupRecord {
  readonly clientId: string;
  readonly seq: number;
  /** The log index the request was applied at. */
  readonly index: LogIndex;
  /** Its position in that batch entry; absent for a single-command entry (counts as 0). */
  readonly slot?: number;
  /** Deterministic size estimate (see estimateDedupBytes), counted against dedupBytesMax. */
  readonly bytes: number;
  readonly result: CommandResult;
}

export interface DedupLimits {
  readonly dedupEntriesMax: number;
  readonly dedupEntriesPerClientMax: number;
  readonly dedupBytesMax: number;
}

interface Held {
  readonly record: DedupRecord;
  /** SHA-256 of the record's stored encoding, for the state digest. */
  readonly hash: bigint;
  /** Evicted: skipped (and dropped) when it reaches the front of an EvictionQueue. */
  evicted: boolean;
}

/**
 * Records oldest first, for eviction. Not a Map's iteration order: V8 keeps a deleted Map entry
 * as a hole until the table is rebuilt, so taking the oldest entry of a Map that is deleted from
 * the front walks every hole before it (88 µs per write at 100,000 records, measured).
 */
class EvictionQueue {
  #items: Held[] = [];
  #head = 0;
  /** Evicted records still in #items at or after #head. */
  #evicted = 0;

  push(held: Held): void {
    this.#items.push(held);
  }

  /** One of its records was evicted: it stays until it is skipped at the front or compacted away. */
  noteEvicted(): void {
    this.#evicted++;
    // Evictions from the middle (another bound evicted it) must not pile up behind a live front.
    if (this.#evicted > 1_024 && this.#evicted * 2 > this.#items.length - this.#head) this.#compact();
  }

  /** The oldest record not evicted, or undefined. */
  oldest(): Held | undefined {
    while (this.#head < this.#items.length && this.#items[this.#head]!.evicted) {
      this.#head++;
      this.#evicted--;
    }
    if (this.#head > 1_024 && this.#head * 2 > this.#items.length) this.#compact();
    return this.#items[this.#head];
  }

  #compact(): void {
    this.#items = this.#items.slice(this.#head).filter((held) => !held.evicted);
    this.#head = 0;
    this.#evicted = 0;
  }

  /** The records not evicted, oldest first. The queue must not change while this is in use. */
  *live(): Generator<Held, void, undefined> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const held = this.#items[i]!;
      if (!held.evicted) yield held;
    }
  }

  /** Records held, evicted ones included (tests: the queue stays within a constant of the table). */
  get length(): number {
    return this.#items.length - this.#head;
  }
}

interface ClientRecords {
  readonly bySeq: Map<number, Held>;
  readonly order: EvictionQueue;
}

const RECORD_OVERHEAD_BYTES = 96;
const SESSION_OVERHEAD_BYTES = 192;

/**
 * A size estimate from the JSON sizes of the parts: independent of the MessagePack encoder,
 * so every replica (whatever its library version) evicts the same records.
 */
export function estimateDedupBytes(clientId: string, result: CommandResult, dataBytes?: number): number {
  let bytes = RECORD_OVERHEAD_BYTES + clientId.length;
  if (!result.ok) return bytes + result.message.length;
  const session = result.session;
  if (session !== undefined) {
    bytes += SESSION_OVERHEAD_BYTES + session.sessionId.length + session.clientId.length + session.transport.length;
    bytes += dataBytes ?? jsonBytes(session.data);
  }
  return bytes;
}

/**
 * A record in its one key order (the stored bytes depend on it): clientId, seq, index, slot
 * (only in a batch entry), bytes, result.
 */
export function makeDedupRecord(fields: DedupRecord): DedupRecord {
  return Object.freeze({
    clientId: fields.clientId,
    seq: fields.seq,
    index: fields.index,
    ...(fields.slot !== undefined ? { slot: fields.slot } : {}),
    bytes: fields.bytes,
    result: fields.result,
  });
}

/**
 * The stored bytes of a record (made by makeDedupRecord): packValue(record), but when the result
 * is `{ ok: true, session }` and the caller has the session's packed bytes (its own row, written
 * in the same batch), the MessagePack of the rest is written here by hand and the session's bytes
 * copied after it, instead of packing the session a second time and the record through msgpackr.
 * The bytes are the same (tested against packValue over every width of every field): the session
 * is the record's last value.
 */
export function encodeDedupRecord(record: DedupRecord, sessionBytes: Uint8Array | undefined): Uint8Array {
  const result = record.result;
  if (sessionBytes === undefined || !result.ok || result.session === undefined || result.deleted !== undefined) return packValue(record);
  const { clientId } = record;
  const clientIdBytes = Buffer.byteLength(clientId, 'utf8');
  const slot = record.slot;
  if (clientIdBytes > 0xff || !(packedUintBytes(record.seq) && packedUintBytes(record.index) && packedUintBytes(record.bytes) && (slot === undefined || packedUintBytes(slot)))) {
    return packValue(record);
  }
  const out = Buffer.allocUnsafe(HEAD_BYTES_MAX + clientIdBytes + sessionBytes.length);
  let at = 0;
  out[at++] = slot === undefined ? 0x85 : 0x86; // fixmap of 5 or 6 pairs
  at = copyBytes(out, at, KEY_CLIENT_ID);
  if (clientIdBytes < 32) out[at++] = 0xa0 | clientIdBytes;
  else {
    out[at++] = 0xd9;
    out[at++] = clientIdBytes;
  }
  if (clientIdBytes === clientId.length) for (let i = 0; i < clientIdBytes; i++) out[at++] = clientId.charCodeAt(i);
  else at += out.write(clientId, at, 'utf8');
  at = writePackedUint(out, copyBytes(out, at, KEY_SEQ), record.seq);
  at = writePackedUint(out, copyBytes(out, at, KEY_INDEX), record.index);
  if (slot !== undefined) at = writePackedUint(out, copyBytes(out, at, KEY_SLOT), slot);
  at = writePackedUint(out, copyBytes(out, at, KEY_BYTES), record.bytes);
  at = copyBytes(out, at, RESULT_OK_SESSION);
  out.set(sessionBytes, at);
  return out.subarray(0, at + sessionBytes.length);
}

/** The fixed parts of a record's MessagePack: its keys as fixstr, and `result: { ok: true, session: ` before the session. */
const KEY_CLIENT_ID = Buffer.from('\xa8clientId', 'latin1');
const KEY_SEQ = Buffer.from('\xa3seq', 'latin1');
const KEY_INDEX = Buffer.from('\xa5index', 'latin1');
const KEY_SLOT = Buffer.from('\xa4slot', 'latin1');
const KEY_BYTES = Buffer.from('\xa5bytes', 'latin1');
const RESULT_OK_SESSION = Buffer.from('\xa6result\x82\xa2ok\xc3\xa7session', 'latin1');
/** Everything but the client id and the session, at the widest: map header, keys, string header, 4 uint32s. */
const HEAD_BYTES_MAX = 1 + KEY_CLIENT_ID.length + 2 + KEY_SEQ.length + KEY_INDEX.length + KEY_SLOT.length + KEY_BYTES.length + 4 * 5 + RESULT_OK_SESSION.length;

function copyBytes(out: Buffer, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) out[at + i] = bytes[i]!;
  return at + bytes.length;
}

/** Whether MessagePack packs `n` as an unsigned integer of at most 4 bytes (msgpackr packs larger ones as float64). */
function packedUintBytes(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
}

/** The smallest MessagePack unsigned integer (positive fixint, uint8, uint16, uint32), as msgpackr writes it. */
function writePackedUint(out: Buffer, at: number, n: number): number {
  if (n < 0x80) {
    out[at] = n;
    return at + 1;
  }
  if (n <= 0xff) {
    out[at] = 0xcc;
    out[at + 1] = n;
    return at + 2;
  }
  if (n <= 0xffff) {
    out[at] = 0xcd;
    out.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  out[at] = 0xce;
  out.writeUInt32BE(n, at + 1);
  return at + 5;
}

/** The StateStore key of a record: `d/<clientId>/<seq>` (seq has no '/', so the key is unique). */
export function dedupKey(clientId: string, seq: number): string {
  return `d/${clientId}/${seq}`;
}

export class DedupTable {
  readonly #limits: DedupLimits;
  /** All records in log-index order. */
  #order = new EvictionQueue();
  #count = 0;
  /** Per request client: seq → record, and its records in log-index order. */
  readonly #byClient = new Map<string, ClientRecords>();
  readonly #hash = new SetHash();
  #bytes = 0;
  #lastPosition = 0;

  constructor(limits: DedupLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Hex of the set hash over the records' encodings. */
  hashHex(): string {
    return this.#hash.hex();
  }

  lookup(clientId: string, seq: number): DedupRecord | undefined {
    return this.#byClient.get(clientId)?.bySeq.get(seq)?.record;
  }

  /** Records in log-index order (oldest first). */
  *records(): Generator<DedupRecord, void, undefined> {
    for (const held of this.#order.live()) yield held.record;
  }

  clear(): void {
    this.#order = new EvictionQueue();
    this.#count = 0;
    this.#byClient.clear();
    this.#hash.reset();
    this.#bytes = 0;
    this.#lastPosition = 0;
  }

  /** Adds a record without evicting (load at start-up or snapshot install). Records must come in log order. */
  install(record: DedupRecord, hash: bigint): void {
    const position = logPosition(record);
    if (position <= this.#lastPosition) {
      throw new Error(`dedup record ${dedupKey(record.clientId, record.seq)} at index ${record.index} slot ${record.slot ?? 0} is not after position ${this.#lastPosition}`);
    }
    let perClient = this.#byClient.get(record.clientId);
    if (perClient === undefined) {
      perClient = { bySeq: new Map(), order: new EvictionQueue() };
      this.#byClient.set(record.clientId, perClient);
    } else if (perClient.bySeq.has(record.seq)) {
      throw new Error(`dedup record ${dedupKey(record.clientId, record.seq)} is present twice`);
    }
    const held: Held = { record, hash, evicted: false };
    this.#count++;
    this.#order.push(held);
    perClient.bySeq.set(record.seq, held);
    perClient.order.push(held);
    this.#hash.add(hash);
    this.#bytes += record.bytes;
    this.#lastPosition = position;
  }

  /**
   * Adds the answer to a new request and evicts beyond the bounds: first the client's own
   * oldest, then the oldest overall. Returns the evicted records. The new record is kept even
   * if alone it exceeds dedupBytesMax.
   */
  add(record: DedupRecord, encoded: Uint8Array): DedupRecord[] {
    this.install(record, sha256Big(encoded));
    const evicted: DedupRecord[] = [];
    const perClient = this.#byClient.get(record.clientId) as ClientRecords;
    while (perClient.bySeq.size > this.#limits.dedupEntriesPerClientMax) {
      evicted.push(this.#evict(perClient.order.oldest() as Held));
    }
    while (
      this.#count > 1 &&
      (this.#count > this.#limits.dedupEntriesMax || this.#bytes > this.#limits.dedupBytesMax)
    ) {
      evicted.push(this.#evict(this.#order.oldest() as Held));
    }
    return evicted;
  }

  #evict(held: Held): DedupRecord {
    const record = held.record;
    const perClient = this.#byClient.get(record.clientId);
    if (held.evicted || perClient === undefined || perClient.bySeq.get(record.seq) !== held) {
      throw new Error(`dedup evict: ${dedupKey(record.clientId, record.seq)} is not held`);
    }
    perClient.bySeq.delete(record.seq);
    held.evicted = true;
    this.#count--;
    this.#order.noteEvicted();
    perClient.order.noteEvicted();
    if (perClient.bySeq.size === 0) this.#byClient.delete(record.clientId);
    this.#hash.remove(held.hash);
    this.#bytes -= record.bytes;
    return record;
  }

  /** Checks that both indexes and the byte count agree (tests). */
  checkInvariants(): void {
    let perClientTotal = 0;
    for (const perClient of this.#byClient.values()) perClientTotal += perClient.bySeq.size;
    if (perClientTotal !== this.#count) {
      throw new Error(`dedup: ${this.#count} records but ${perClientTotal} in the per-client index`);
    }
    const queued = (queue: EvictionQueue, live: number, what: string): void => {
      if (queue.length > 2 * live + 2_048) throw new Error(`dedup: the eviction order of ${what} holds ${queue.length} records for ${live} live`);
    };
    queued(this.#order, this.#count, 'all records');
    for (const [clientId, perClient] of this.#byClient) queued(perClient.order, perClient.bySeq.size, `client ${clientId}`);
    let bytes = 0;
    let previous = 0;
    let live = 0;
    for (const { record } of this.#order.live()) {
      live++;
      bytes += record.bytes;
      if (logPosition(record) <= previous) throw new Error(`dedup: position ${logPosition(record)} after ${previous}`);
      previous = logPosition(record);
    }
    if (bytes !== this.#bytes) throw new Error(`dedup: byte count ${this.#bytes} but records sum to ${bytes}`);
    if (live !== this.#count) throw new Error(`dedup: ${live} records in the order, ${this.#count} counted`);
    if (this.#hash.count !== this.#count) throw new Error(`dedup: hash counts ${this.#hash.count}, table ${this.#count}`);
  }
}

/** Slots per entry the order of records allows (the node packs at most 1,024 writes per entry). */
const SLOTS_PER_INDEX = 65_536;

/** A record's place in the log: by index, then by slot within a batch entry. */
export function logPosition(record: Pick<DedupRecord, 'index' | 'slot'>): number {
  return record.index * SLOTS_PER_INDEX + (record.slot ?? 0);
}
