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

// copyBuffers: decoded byte strings do not keep the whole received frame alive while the Raft
// core or storage holds an entry. No records or extensions: plain, interoperable MessagePack.
const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  mapsAsObjects: true,
  copyBuffers: true,
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
  const bytes: Uint8Array = packr.pack(toWire(message));
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
  return readMessage(raw);
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
  const { voters, learners, addresses, removed } = s.meta.confState;
  const confState = {
    voters: [...voters],
    learners: [...learners],
    ...(addresses ? { addresses: { ...addresses } } : {}),
    ...(removed ? { removed: [...removed] } : {}),
  };
  return {
    meta: { index: s.meta.index, term: s.meta.term, confState },
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
  // to the ones the core built.
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
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
  const conf = {
    voters: ids(c.voters, 'confState.voters'),
    learners: ids(c.learners, 'confState.learners'),
    ...(c.removed !== undefined ? { removed: ids(c.removed, 'confState.removed') } : {}),
  };
  if (c.addresses === undefined) return conf;
  const entries = Object.entries(obj(c.addresses, 'confState.addresses'));
  if (entries.length > MEMBERS_MAX) throw new CodecError('malformed', `confState.addresses: more than ${MEMBERS_MAX} members`);
  const addresses: Record<number, string> = {};
  for (const [id, address] of entries) {
    if (!/^[1-9][0-9]{0,15}$/.test(id) || typeof address !== 'string' || address.length > 256) {
      throw new CodecError('malformed', `confState.addresses: malformed member ${JSON.stringify(id)}`);
    }
    addresses[Number(id)] = address;
  }
  return { ...conf, addresses };
}
