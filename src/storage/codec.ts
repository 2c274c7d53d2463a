/**
 * The on-disk vocabulary: key layout and value encodings, shared by every LevelDB store.
 *
 * One LevelDB per node; the first key byte names the concern (ASCII, readable in dumps):
 *   'v'             format version (msgpack number)
 *   'h'             hard state      msgpack [term, vote, commit]
 *   'm'             snapshot meta   msgpack [index, term, voters, learners]
 *   'l' + u64 BE    log entry       msgpack [term, index, typeCode, data]
 *   'a'             applied index   msgpack number
 *   'i'             snapshot install in progress (msgpack index of the snapshot): the state is
 *                   partial until the install's last batch removes it
 *   's' + UTF-8     state machine key → raw value bytes
 * Big-endian fixed-width indexes make LevelDB's byte order the numeric order.
 */
import { Packr } from 'msgpackr';
import {
  logIndex,
  nodeId,
  term,
  type Entry,
  type EntryType,
  type HardState,
  type LogIndex,
  type NodeId,
  type SnapshotMeta,
} from '../raft/index.js';
import { StorageCorruptionError, assert } from './errors.js';

export const FORMAT_VERSION = 1;
/** Longest state machine key, in UTF-8 bytes. Keys are ids, not payloads. */
export const STATE_KEY_BYTES_MAX = 4096;

const PREFIX_FORMAT = 0x76; // 'v'
const PREFIX_HARD_STATE = 0x68; // 'h'
const PREFIX_SNAPSHOT_META = 0x6d; // 'm'
const PREFIX_LOG = 0x6c; // 'l'
const PREFIX_APPLIED = 0x61; // 'a'
const PREFIX_INSTALLING = 0x69; // 'i'
const PREFIX_STATE = 0x73; // 's'

export const FORMAT_KEY = Uint8Array.of(PREFIX_FORMAT);
export const HARD_STATE_KEY = Uint8Array.of(PREFIX_HARD_STATE);
export const SNAPSHOT_META_KEY = Uint8Array.of(PREFIX_SNAPSHOT_META);
export const APPLIED_KEY = Uint8Array.of(PREFIX_APPLIED);
export const INSTALLING_KEY = Uint8Array.of(PREFIX_INSTALLING);
/** Range bounds: every log key k satisfies LOG_KEY_LOW ≤ k < LOG_KEY_HIGH. */
export const LOG_KEY_LOW = Uint8Array.of(PREFIX_LOG);
export const LOG_KEY_HIGH = Uint8Array.of(PREFIX_LOG + 1);
export const STATE_KEY_LOW = Uint8Array.of(PREFIX_STATE);
export const STATE_KEY_HIGH = Uint8Array.of(PREFIX_STATE + 1);

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
/** With the u flag a paired surrogate is one code point, so this matches only lone ones. */
const LONE_SURROGATE = /\p{Surrogate}/u;

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: term(0), vote: nodeId(0), commit: logIndex(0) });

export function logKey(index: number): Uint8Array {
  assert(Number.isSafeInteger(index) && index >= 0, () => `log index must be a safe integer ≥ 0, got ${index}`);
  const key = new Uint8Array(9);
  const view = new DataView(key.buffer);
  key[0] = PREFIX_LOG;
  view.setUint32(1, Math.floor(index / 2 ** 32));
  view.setUint32(5, index >>> 0);
  return key;
}

export function logIndexOfKey(key: Uint8Array): number {
  if (key.length !== 9 || key[0] !== PREFIX_LOG) throw new StorageCorruptionError(`malformed log key of ${key.length} bytes`);
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  return view.getUint32(1) * 2 ** 32 + view.getUint32(5);
}

/** Rejects keys that UTF-8 cannot round-trip (lone surrogates) and oversized ones; returns the key's UTF-8 length. */
export function validateStateKey(key: string): number {
  if (typeof key !== 'string') throw new RangeError(`state key must be a string, got ${typeof key}`);
  if (LONE_SURROGATE.test(key)) {
    throw new RangeError(`state key ${JSON.stringify(key)} holds a lone UTF-16 surrogate`);
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > STATE_KEY_BYTES_MAX) {
    throw new RangeError(`state key is ${bytes} UTF-8 bytes, more than STATE_KEY_BYTES_MAX (${STATE_KEY_BYTES_MAX})`);
  }
  return bytes;
}

/** The LevelDB key of a state key: the prefix byte, then its UTF-8 (one copy, from Buffer's pool); `bytes` from validateStateKey. */
export function stateKey(key: string, bytes: number): Uint8Array {
  const out = Buffer.allocUnsafe(bytes + 1);
  out[0] = PREFIX_STATE;
  out.write(key, 1, bytes, 'utf8');
  return out;
}

export function stateKeyName(key: Uint8Array): string {
  if (key[0] !== PREFIX_STATE) throw new StorageCorruptionError(`state key has prefix byte ${key[0]}`);
  try {
    return utf8Strict.decode(key.subarray(1));
  } catch (cause) {
    throw new StorageCorruptionError('state key is not valid UTF-8', { cause });
  }
}

/**
 * The order of state keys everywhere: Unicode code point order, which is UTF-8 byte order
 * (LevelDB's). JavaScript's `<` compares UTF-16 code units and differs above U+E000.
 */
export function compareStateKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

/** A plain Uint8Array over the same bytes (Buffer is a subclass; tests and callers compare classes). */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const ENTRY_TYPE_CODES: Record<EntryType, number> = { normal: 0, confChange: 1 };
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'confChange'];

export function encodeEntry(entry: Entry): Uint8Array {
  const typeCode = ENTRY_TYPE_CODES[entry.type];
  assert(typeCode !== undefined, () => `entry ${entry.index} has unknown type ${String(entry.type)}`);
  assert(entry.data instanceof Uint8Array, () => `entry ${entry.index} data must be a Uint8Array`);
  return packr.pack([entry.term, entry.index, typeCode, entry.data]);
}

export function decodeEntry(bytes: Uint8Array, what: string): Entry {
  const raw = unpack(bytes, what);
  if (!Array.isArray(raw) || raw.length !== 4) throw corrupt(what, 'is not a 4-element array');
  const [t, index, typeCode, data] = raw as unknown[];
  const type = ENTRY_TYPES[typeCode as number];
  if (!isCount(t) || !isCount(index) || type === undefined || !(data instanceof Uint8Array)) {
    throw corrupt(what, `has malformed fields [${String(t)}, ${String(index)}, ${String(typeCode)}]`);
  }
  return { term: term(t), index: logIndex(index), type, data: plainBytes(data) };
}

export function encodeHardState(hs: HardState): Uint8Array {
  return packr.pack([hs.term, hs.vote, hs.commit]);
}

export function decodeHardState(bytes: Uint8Array): HardState {
  const raw = unpack(bytes, 'hard state');
  if (!Array.isArray(raw) || raw.length !== 3 || !raw.every(isCount)) throw corrupt('hard state', 'is malformed');
  const [t, vote, commit] = raw as number[];
  return { term: term(t!), vote: nodeId(vote!), commit: logIndex(commit!) };
}

export function encodeSnapshotMeta(meta: SnapshotMeta): Uint8Array {
  const { voters, learners, addresses, removed } = meta.confState;
  const fields: unknown[] = [meta.index, meta.term, [...voters], [...learners]];
  // Member addresses ([[id, "host:port"], ...]) and removed ids, when the configuration has any.
  if (addresses !== undefined || removed !== undefined) {
    fields.push(Object.entries(addresses ?? {}).map(([id, address]) => [Number(id), address]), [...(removed ?? [])]);
  }
  return packr.pack(fields);
}

export function decodeSnapshotMeta(bytes: Uint8Array, what = 'snapshot meta'): SnapshotMeta {
  const raw = unpack(bytes, what);
  if (!Array.isArray(raw) || (raw.length !== 4 && raw.length !== 6)) throw corrupt(what, 'is not a 4- or 6-element array');
  const [index, t, voters, learners, addresses, removed] = raw as unknown[];
  if (!isCount(index) || !isCount(t) || !isNodeList(voters) || !isNodeList(learners)) {
    throw corrupt(what, 'has malformed fields');
  }
  if (addresses === undefined) return { index: logIndex(index), term: term(t), confState: { voters, learners } };
  if (!isAddressList(addresses) || !isNodeList(removed)) throw corrupt(what, 'has malformed member addresses or removed ids');
  const confState = {
    voters,
    learners,
    ...(addresses.length > 0 ? { addresses: Object.fromEntries(addresses) } : {}),
    ...(removed.length > 0 ? { removed } : {}),
  };
  return { index: logIndex(index), term: term(t), confState };
}

export function encodeCount(n: number): Uint8Array {
  return packr.pack(n);
}

export function decodeCount(bytes: Uint8Array, what: string): number {
  const raw = unpack(bytes, what);
  if (!isCount(raw)) throw corrupt(what, `is not a count: ${String(raw)}`);
  return raw;
}

export function decodeLogIndex(bytes: Uint8Array, what: string): LogIndex {
  return logIndex(decodeCount(bytes, what));
}

function unpack(bytes: Uint8Array, what: string): unknown {
  try {
    return packr.unpack(bytes);
  } catch (cause) {
    throw new StorageCorruptionError(`${what} is not valid msgpack (${bytes.length} bytes)`, { cause });
  }
}

function corrupt(what: string, problem: string): StorageCorruptionError {
  return new StorageCorruptionError(`${what} ${problem}`);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isNodeList(x: unknown): x is NodeId[] {
  return Array.isArray(x) && x.every(isCount);
}

function isAddressList(value: unknown): value is [number, string][] {
  return (
    Array.isArray(value) &&
    value.every((pair) => Array.isArray(pair) && pair.length === 2 && isCount(pair[0]) && typeof pair[1] === 'string')
  );
}
