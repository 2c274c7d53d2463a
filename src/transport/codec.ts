/**
 * The wire encoding of one raft Message: a MessagePack map whose keys are the field names of
 * `Message` (src/raft/types.ts), optional fields omitted when absent. Decoding validates the
 * shape completely and rebuilds a fresh object, so nothing a peer sends can reach the Raft core
 * as a half-formed message (or smuggle a prototype key): it is a Message or a CodecError.
 */
import { Packr } from 'msgpackr';
import type {
  ConfState,
  Entry,
  EntryType,
  Message,
  MessageType,
  NodeId,
  Snapshot,
} from '../raft/index.js';

export type CodecErrorReason = 'tooLarge' | 'undecodable' | 'malformed';

/** An encoding or decoding failure; `reason` says which. */
export class CodecError extends Error {
  constructor(
    readonly reason: CodecErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

// No records or extensions: plain, interoperable MessagePack. Decoded byte strings are views
// into one private copy of their message (see decodeMessage), not into the received frame, so a
// retained entry pins at most its own message, never the whole frame.
const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  mapsAsObjects: true,
  copyBuffers: false,
  structuredClone: false,
  encodeUndefinedAsNil: false,
});

const MESSAGE_TYPES: ReadonlySet<string> = new Set<MessageType>([
  'append',
  'appendResponse',
  'heartbeat',
  'heartbeatResponse',
  'vote',
  'voteResponse',
  'preVote',
  'preVoteResponse',
  'snapshot',
  'readIndex',
  'readIndexResponse',
  'timeoutNow',
  'transferLeader',
]);
const ENTRY_TYPES: ReadonlySet<string> = new Set<EntryType>(['normal', 'confChange']);

/** Encodes `message`; throws CodecError('tooLarge') if the result exceeds `bytesMax`. */
export function encodeMessage(message: Message, bytesMax: number): Uint8Array {
  const bytes: Uint8Array = encodeFast(message) ?? packr.pack(toWire(message));
  if (bytes.length > bytesMax) {
    throw new CodecError(
      'tooLarge',
      `raft message '${message.type}' to node ${message.to} encodes to ${bytes.length} bytes, over the limit of ${bytesMax}`,
    );
  }
  return bytes;
}

/** Decodes and validates one message; throws CodecError on anything that is not a Message. */
export function decodeMessage(bytes: Uint8Array, bytesMax: number): Message {
  if (bytes.length > bytesMax) {
    throw new CodecError('tooLarge', `raft message of ${bytes.length} bytes is over the limit of ${bytesMax}`);
  }
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (cause) {
    throw new CodecError('undecodable', `raft message bytes are not MessagePack: ${String(cause)}`, { cause });
  }
  decoding = { source: bytes, copy: undefined };
  try {
    return readMessage(raw);
  } finally {
    decoding = undefined;
  }
}

/**
 * The message being decoded. Its byte strings are views into `source` (a received frame); the
 * first one read makes `copy`, one private copy of the message, and each becomes a view into
 * it: one allocation per message instead of one per byte string, and no view into the frame.
 */
let decoding: { readonly source: Uint8Array; copy: Buffer | undefined } | undefined;

// ---- the hot path: a direct encoder for every message but snapshots ----
// The same MessagePack map as packr.pack(toWire(m)) would hold (same keys, same values), written
// straight into one buffer sized in advance: no intermediate objects, no growing. fixmap / fixstr
// headers where msgpackr writes map16: any MessagePack decoder reads both. Anything unusual (a
// snapshot, a value of an unexpected type) takes the generic path above, unchanged.

const FIELD_NAMES = [
  'type', 'from', 'to', 'term', 'logTerm', 'index', 'entries', 'commit', 'reject', 'rejectHint',
  'context', 'transfer', 'data',
  ...MESSAGE_TYPES,
  ...ENTRY_TYPES,
] as const;

/** fixstr encodings of the field names and type names (ASCII, under 32 bytes). */
const STR: ReadonlyMap<string, Uint8Array> = new Map(
  FIELD_NAMES.map((name) => {
    if (!/^[A-Za-z]{1,31}$/.test(name)) throw new Error(`codec: '${name}' is not a short ASCII name`);
    const bytes = new Uint8Array(1 + name.length);
    bytes[0] = 0xa0 | name.length;
    for (let i = 0; i < name.length; i++) bytes[i + 1] = name.charCodeAt(i);
    return [name, bytes];
  }),
);

function str(name: string): Uint8Array {
  const bytes = STR.get(name);
  if (bytes === undefined) throw new Error(`codec: no encoding for '${name}'`);
  return bytes;
}

const K_TYPE = str('type');
const K_FROM = str('from');
const K_TO = str('to');
const K_TERM = str('term');
const K_LOG_TERM = str('logTerm');
const K_INDEX = str('index');
const K_ENTRIES = str('entries');
const K_COMMIT = str('commit');
const K_REJECT = str('reject');
const K_REJECT_HINT = str('rejectHint');
const K_CONTEXT = str('context');
const K_TRANSFER = str('transfer');
const K_DATA = str('data');

function isUint(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function uintBytes(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x100) return 2;
  if (value < 0x10000) return 3;
  if (value <= 0xffffffff) return 5;
  return 9; // float64, exact below 2^53 (what msgpackr writes too)
}

function binBytes(length: number): number {
  return (length < 0x100 ? 2 : length < 0x10000 ? 3 : 5) + length;
}

function arrayHeaderBytes(length: number): number {
  return length < 16 ? 1 : length < 0x10000 ? 3 : 5;
}

/** The encoded size of `m`, or -1 if it must take the generic path. */
function fastSize(m: Message): number {
  const typeName = STR.get(m.type);
  if (typeName === undefined || m.snapshot !== undefined) return -1;
  if (!isUint(m.from) || !isUint(m.to) || !isUint(m.term)) return -1;
  let size = 1 + K_TYPE.length + typeName.length + K_FROM.length + uintBytes(m.from) + K_TO.length + uintBytes(m.to);
  size += K_TERM.length + uintBytes(m.term);
  if (m.logTerm !== undefined) {
    if (!isUint(m.logTerm)) return -1;
    size += K_LOG_TERM.length + uintBytes(m.logTerm);
  }
  if (m.index !== undefined) {
    if (!isUint(m.index)) return -1;
    size += K_INDEX.length + uintBytes(m.index);
  }
  if (m.entries !== undefined) {
    if (!Array.isArray(m.entries)) return -1;
    size += K_ENTRIES.length + arrayHeaderBytes(m.entries.length);
    for (const e of m.entries) {
      const entryType = STR.get(e.type);
      if (entryType === undefined || !isUint(e.term) || !isUint(e.index) || !(e.data instanceof Uint8Array)) return -1;
      size += 1 + K_TERM.length + uintBytes(e.term) + K_INDEX.length + uintBytes(e.index);
      size += K_TYPE.length + entryType.length + K_DATA.length + binBytes(e.data.length);
    }
  }
  if (m.commit !== undefined) {
    if (!isUint(m.commit)) return -1;
    size += K_COMMIT.length + uintBytes(m.commit);
  }
  if (m.reject !== undefined) {
    if (typeof m.reject !== 'boolean') return -1;
    size += K_REJECT.length + 1;
  }
  if (m.rejectHint !== undefined) {
    const h = m.rejectHint;
    if (!isUint(h.index) || !isUint(h.term)) return -1;
    size += K_REJECT_HINT.length + 1 + K_INDEX.length + uintBytes(h.index) + K_TERM.length + uintBytes(h.term);
  }
  if (m.context !== undefined) {
    if (!(m.context instanceof Uint8Array)) return -1;
    size += K_CONTEXT.length + binBytes(m.context.length);
  }
  if (m.transfer !== undefined) {
    if (typeof m.transfer !== 'boolean') return -1;
    size += K_TRANSFER.length + 1;
  }
  return size;
}

class Writer {
  at = 0;
  constructor(readonly bytes: Buffer) {}
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n > 32) {
      this.bytes.set(bytes, this.at);
      this.at += n;
      return;
    }
    // Short (every field name): a loop beats set()'s call overhead.
    const b = this.bytes;
    for (let i = 0; i < n; i++) b[this.at++] = bytes[i]!;
  }
  byte(value: number): void {
    this.bytes[this.at++] = value;
  }
  /** Big-endian, `count` bytes. */
  be(value: number, count: 2 | 4): void {
    const b = this.bytes;
    if (count === 4) {
      b[this.at++] = value >>> 24;
      b[this.at++] = (value >>> 16) & 0xff;
    }
    b[this.at++] = (value >>> 8) & 0xff;
    b[this.at++] = value & 0xff;
  }
  uint(value: number): void {
    if (value < 0x80) {
      this.bytes[this.at++] = value;
    } else if (value < 0x100) {
      this.bytes[this.at++] = 0xcc;
      this.bytes[this.at++] = value;
    } else if (value < 0x10000) {
      this.bytes[this.at++] = 0xcd;
      this.be(value, 2);
    } else if (value <= 0xffffffff) {
      this.bytes[this.at++] = 0xce;
      this.be(value, 4);
    } else {
      this.bytes[this.at++] = 0xcb;
      this.at = this.bytes.writeDoubleBE(value, this.at);
    }
  }
  bin(data: Uint8Array): void {
    const n = data.length;
    if (n < 0x100) {
      this.bytes[this.at++] = 0xc4;
      this.bytes[this.at++] = n;
    } else if (n < 0x10000) {
      this.bytes[this.at++] = 0xc5;
      this.be(n, 2);
    } else {
      this.bytes[this.at++] = 0xc6;
      this.be(n, 4);
    }
    this.raw(data);
  }
  arrayHeader(n: number): void {
    if (n < 16) {
      this.bytes[this.at++] = 0x90 | n;
    } else if (n < 0x10000) {
      this.bytes[this.at++] = 0xdc;
      this.be(n, 2);
    } else {
      this.bytes[this.at++] = 0xdd;
      this.be(n, 4);
    }
  }
}

/** The MessagePack map of `m` in one exactly sized buffer, or undefined for the generic path. */
function encodeFast(m: Message): Uint8Array | undefined {
  const size = fastSize(m);
  if (size < 0) return undefined;
  const w = new Writer(Buffer.allocUnsafe(size));
  const fields =
    4 +
    (m.logTerm === undefined ? 0 : 1) +
    (m.index === undefined ? 0 : 1) +
    (m.entries === undefined ? 0 : 1) +
    (m.commit === undefined ? 0 : 1) +
    (m.reject === undefined ? 0 : 1) +
    (m.rejectHint === undefined ? 0 : 1) +
    (m.context === undefined ? 0 : 1) +
    (m.transfer === undefined ? 0 : 1);
  w.byte(0x80 | fields); // fixmap: at most 12 fields here
  w.raw(K_TYPE);
  w.raw(str(m.type));
  w.raw(K_FROM);
  w.uint(m.from);
  w.raw(K_TO);
  w.uint(m.to);
  w.raw(K_TERM);
  w.uint(m.term);
  if (m.logTerm !== undefined) (w.raw(K_LOG_TERM), w.uint(m.logTerm));
  if (m.index !== undefined) (w.raw(K_INDEX), w.uint(m.index));
  if (m.entries !== undefined) {
    w.raw(K_ENTRIES);
    w.arrayHeader(m.entries.length);
    for (const e of m.entries) {
      w.byte(0x84);
      w.raw(K_TERM);
      w.uint(e.term);
      w.raw(K_INDEX);
      w.uint(e.index);
      w.raw(K_TYPE);
      w.raw(str(e.type));
      w.raw(K_DATA);
      w.bin(e.data);
    }
  }
  if (m.commit !== undefined) (w.raw(K_COMMIT), w.uint(m.commit));
  if (m.reject !== undefined) (w.raw(K_REJECT), w.byte(m.reject ? 0xc3 : 0xc2));
  if (m.rejectHint !== undefined) {
    w.raw(K_REJECT_HINT);
    w.byte(0x82);
    w.raw(K_INDEX);
    w.uint(m.rejectHint.index);
    w.raw(K_TERM);
    w.uint(m.rejectHint.term);
  }
  if (m.context !== undefined) (w.raw(K_CONTEXT), w.bin(m.context));
  if (m.transfer !== undefined) (w.raw(K_TRANSFER), w.byte(m.transfer ? 0xc3 : 0xc2));
  if (w.at !== size) throw new Error(`codec: wrote ${w.at} bytes of a message sized ${size}`);
  return w.bytes;
}

/** Only defined fields, no foreign properties; Uint8Array values pack as `bin`. */
function toWire(m: Message): Record<string, unknown> {
  const wire: Record<string, unknown> = { type: m.type, from: m.from, to: m.to, term: m.term };
  if (m.logTerm !== undefined) wire.logTerm = m.logTerm;
  if (m.index !== undefined) wire.index = m.index;
  if (m.entries !== undefined) wire.entries = m.entries.map(toWireEntry);
  if (m.commit !== undefined) wire.commit = m.commit;
  if (m.reject !== undefined) wire.reject = m.reject;
  if (m.rejectHint !== undefined) wire.rejectHint = { index: m.rejectHint.index, term: m.rejectHint.term };
  if (m.snapshot !== undefined) wire.snapshot = toWireSnapshot(m.snapshot);
  if (m.context !== undefined) wire.context = m.context;
  if (m.transfer !== undefined) wire.transfer = m.transfer;
  return wire;
}

function toWireEntry(e: Entry): Record<string, unknown> {
  return { term: e.term, index: e.index, type: e.type, data: e.data };
}

function toWireSnapshot(s: Snapshot): Record<string, unknown> {
  const { voters, learners } = s.meta.confState;
  return {
    meta: { index: s.meta.index, term: s.meta.term, confState: { voters: [...voters], learners: [...learners] } },
    data: s.data,
  };
}

// ---- validation: each reader returns a fresh value or throws CodecError('malformed') ----

type Obj = Record<string, unknown>;

function malformed(what: string): never {
  throw new CodecError('malformed', `malformed raft message: ${what}`);
}

function obj(value: unknown, what: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    malformed(`${what} is not a map`);
  }
  return value as Obj;
}

function uint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    malformed(`${what} is not a non-negative safe integer (got ${typeof value})`);
  }
  return value;
}

function bytesOf(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) malformed(`${what} is not a byte string`);
  // A plain Uint8Array view (msgpackr hands out Buffers), so decoded messages compare equal
  // to the ones the core built; over the message's private copy (see `decoding`).
  const source = decoding?.source;
  if (decoding === undefined || source === undefined || value.buffer !== source.buffer) {
    throw new Error('codec: a byte string outside the message being decoded');
  }
  const offset = value.byteOffset - source.byteOffset;
  if (offset < 0 || offset + value.byteLength > source.byteLength) {
    throw new Error(`codec: byte string at ${offset}+${value.byteLength} outside a message of ${source.byteLength} bytes`);
  }
  const copy = (decoding.copy ??= Buffer.from(source));
  return new Uint8Array(copy.buffer, copy.byteOffset + offset, value.byteLength);
}

function bool(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') malformed(`${what} is not a boolean`);
  return value;
}

function array(value: unknown, what: string, lengthMax: number): unknown[] {
  if (!Array.isArray(value)) malformed(`${what} is not an array`);
  if (value.length > lengthMax) malformed(`${what} has ${value.length} items, over ${lengthMax}`);
  return value;
}

// Upper bounds that no honest sender reaches; they keep a hostile array from costing much.
const ENTRIES_PER_MESSAGE_MAX = 1_000_000;
const MEMBERS_MAX = 10_000;

function readMessage(raw: unknown): Message {
  const o = obj(raw, 'message');
  const type = o.type;
  if (typeof type !== 'string' || !MESSAGE_TYPES.has(type)) malformed(`unknown type ${JSON.stringify(type)}`);
  const m: { -readonly [K in keyof Message]: Message[K] } = {
    type: type as MessageType,
    from: uint(o.from, 'from') as NodeId,
    to: uint(o.to, 'to') as NodeId,
    term: uint(o.term, 'term') as Message['term'],
  };
  if (o.logTerm !== undefined) m.logTerm = uint(o.logTerm, 'logTerm') as Message['term'];
  if (o.index !== undefined) m.index = uint(o.index, 'index') as Entry['index'];
  if (o.entries !== undefined) m.entries = array(o.entries, 'entries', ENTRIES_PER_MESSAGE_MAX).map(readEntry);
  if (o.commit !== undefined) m.commit = uint(o.commit, 'commit') as Entry['index'];
  if (o.reject !== undefined) m.reject = bool(o.reject, 'reject');
  if (o.rejectHint !== undefined) {
    const h = obj(o.rejectHint, 'rejectHint');
    m.rejectHint = {
      index: uint(h.index, 'rejectHint.index') as Entry['index'],
      term: uint(h.term, 'rejectHint.term') as Entry['term'],
    };
  }
  if (o.snapshot !== undefined) m.snapshot = readSnapshot(o.snapshot);
  if (o.context !== undefined) m.context = bytesOf(o.context, 'context');
  if (o.transfer !== undefined) m.transfer = bool(o.transfer, 'transfer');
  return m;
}

function readEntry(raw: unknown, i: number): Entry {
  const e = obj(raw, `entries[${i}]`);
  if (typeof e.type !== 'string' || !ENTRY_TYPES.has(e.type)) malformed(`entries[${i}].type is not an entry type`);
  return {
    term: uint(e.term, `entries[${i}].term`) as Entry['term'],
    index: uint(e.index, `entries[${i}].index`) as Entry['index'],
    type: e.type as EntryType,
    data: bytesOf(e.data, `entries[${i}].data`),
  };
}

function readSnapshot(raw: unknown): Snapshot {
  const s = obj(raw, 'snapshot');
  const meta = obj(s.meta, 'snapshot.meta');
  return {
    meta: {
      index: uint(meta.index, 'snapshot.meta.index') as Entry['index'],
      term: uint(meta.term, 'snapshot.meta.term') as Entry['term'],
      confState: readConfState(meta.confState),
    },
    data: bytesOf(s.data, 'snapshot.data'),
  };
}

function readConfState(raw: unknown): ConfState {
  const c = obj(raw, 'snapshot.meta.confState');
  const ids = (value: unknown, what: string): NodeId[] =>
    array(value, what, MEMBERS_MAX).map((id, i) => uint(id, `${what}[${i}]`) as NodeId);
  return { voters: ids(c.voters, 'confState.voters'), learners: ids(c.learners, 'confState.learners') };
}
