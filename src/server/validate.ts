/**
 * Wire request → trusted values, before anything is proposed or read. Every failure is an
 * INVALID_ARGUMENT naming the proto field ("session_id: not a UUID: 'abc'"). Wire-level
 * checks (enum values, presence, 64-bit ranges, page sizes, tokens, JSON shape and size) are
 * here; domain rules (ids, transport, TTLs, data shape) are session/'s validators, given the
 * proto field name so their message names it too.
 */
import type { LogIndex } from '../raft/index.js';
import {
  validateClientId,
  validateData,
  validateMaxLifetimeMs,
  validateSessionId,
  validateTransport,
  validateTtlMs,
  type JsonValue,
  type RequestId,
  type SessionCommand,
} from '../session/index.js';
import type { Durability, ReadConsistency } from './backend.js';
import { invalidArgument } from './errors.js';
import type { ResolvedSessionApiOptions } from './options.js';
import type {
  WireCountRequest,
  WireCreateRequest,
  WireDeleteByClientRequest,
  WireDeleteRequest,
  WireEnum,
  WireGetRequest,
  WireListRequest,
  WireReadFields,
  WireRequestId,
  WireTouchRequest,
  WireUpdateRequest,
  WireWatchRequest,
  WireWriteFields,
} from './wire.js';

type JsonObject = { [key: string]: JsonValue };

export interface ValidWrite {
  readonly durability?: Durability;
  readonly requestId?: RequestId;
}
export interface ValidRead {
  readonly consistency: ReadConsistency;
  readonly minIndex: LogIndex;
}

export type Limits = Pick<
  ResolvedSessionApiOptions,
  'dataBytesMax' | 'defaultTtlMs' | 'listPageSizeDefault' | 'listPageSizeMax'
>;

const DURABILITIES: Readonly<Record<string, Durability | undefined>> = Object.freeze({
  DURABILITY_UNSPECIFIED: undefined,
  DURABILITY_SYNC: 'sync',
  DURABILITY_ASYNC: 'async',
});
const CONSISTENCIES: Readonly<Record<string, ReadConsistency>> = Object.freeze({
  READ_CONSISTENCY_UNSPECIFIED: 'linearizable',
  READ_CONSISTENCY_LINEARIZABLE: 'linearizable',
  READ_CONSISTENCY_LEASE: 'lease',
  READ_CONSISTENCY_STALE: 'stale',
});

function enumValue<T>(field: string, value: WireEnum, names: Readonly<Record<string, T>>): T {
  if (typeof value === 'string' && Object.hasOwn(names, value)) return names[value] as T;
  throw invalidArgument(field, `unknown value ${JSON.stringify(value)}; expected one of ${Object.keys(names).join(', ')}`);
}

/** A uint64/int64 decoded as a number: it must be exact (below 2^53) and within [min, max]. */
function integer(field: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value)) throw invalidArgument(field, `${value} is not an integer below 2^53`);
  if (value < min || value > max) throw invalidArgument(field, `${value} is out of range [${min}, ${max}]`);
  return value;
}

function requestId(wire: WireRequestId | null): RequestId | undefined {
  if (wire === null) return undefined;
  return {
    clientId: validateClientId(wire.clientId, 'request_id.client_id'),
    seq: integer('request_id.seq', wire.seq, 1),
  };
}

function writeFields(request: WireWriteFields): ValidWrite {
  const durability = enumValue('durability', request.durability, DURABILITIES);
  const id = requestId(request.requestId);
  return {
    ...(durability !== undefined ? { durability } : {}),
    ...(id !== undefined ? { requestId: id } : {}),
  };
}

function readFields(request: WireReadFields): ValidRead {
  return {
    consistency: enumValue('consistency', request.consistency, CONSISTENCIES),
    minIndex: integer('min_index', request.minIndex, 0) as LogIndex,
  };
}

/**
 * `data_json`: a JSON object of at most dataBytesMax UTF-8 bytes, as sent (checked before
 * parsing) and as re-encoded; depth and key rules are session/'s. '' = {}.
 */
export function parseDataJson(field: string, text: string, limits: Limits): JsonObject {
  return parseMeasuredDataJson(field, text, limits).data;
}

/** parseDataJson, with the object's size as session/ measures it (UTF-8 of its JSON). */
export function parseMeasuredDataJson(field: string, text: string, limits: Limits): { data: JsonObject; dataBytes: number } {
  if (text === '') return { data: {}, dataBytes: 2 };
  // UTF-8 bytes >= UTF-16 code units, so only a long string needs counting.
  const bytes = text.length * 3 <= limits.dataBytesMax ? text.length : Buffer.byteLength(text, 'utf8');
  if (bytes > limits.dataBytesMax) {
    throw invalidArgument(field, `${bytes} bytes exceeds the limit of ${limits.dataBytesMax} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalidArgument(field, `not valid JSON: ${(error as Error).message}`);
  }
  const inexact = inexactInteger(text);
  if (inexact !== undefined) {
    const at = pathOf(value, Number(inexact), field) ?? field;
    throw invalidArgument(at, `the integer ${inexact} is beyond 2^53 and would be stored rounded; send it as a string`);
  }
  const dataBytes = validateData(value, limits.dataBytesMax, field);
  return { data: value as JsonObject, dataBytes };
}

/** Integers of more digits than this may be beyond 2^53 (9007199254740991 has 16). */
const SAFE_INTEGER_DIGITS_MAX = 15;
const NUMBER_TOKEN = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * The first integer literal in JSON `text` (outside strings) that a double cannot hold exactly,
 * or undefined. Numbers with a fraction or an exponent are floating point by the writer's choice.
 */
function inexactInteger(text: string): string | undefined {
  if (!/\d{16}/.test(text)) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      continue;
    }
    if (c !== 0x2d /* - */ && (c < 0x30 || c > 0x39)) continue;
    NUMBER_TOKEN.lastIndex = i;
    const token = NUMBER_TOKEN.exec(text)?.[0] ?? text[i]!;
    i += token.length - 1;
    const integer = !/[.eE]/.test(token);
    if (integer && token.replace('-', '').length > SAFE_INTEGER_DIGITS_MAX && !Number.isSafeInteger(Number(token))) return token;
  }
  return undefined;
}

/** The path (`data_json.a.b[2]`) of the first number equal to `target` in `value`. */
function pathOf(value: unknown, target: number, path: string): string | undefined {
  if (value === target) return path;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = pathOf(item, target, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const found = pathOf(item, target, `${path}.${key}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

export interface ValidCreate {
  /** Chosen by the caller, or undefined: the serving node mints a UUID. */
  readonly sessionId: string | undefined;
  readonly clientId: string;
  readonly transport: string;
  readonly data: JsonObject;
  /** UTF-8 JSON size of data, carried in the command so the replicas need not measure it. */
  readonly dataBytes: number;
  readonly ttlMs: number;
  readonly maxLifetimeMs: number;
  readonly write: ValidWrite;
}

export function validateCreate(request: WireCreateRequest, limits: Limits): ValidCreate {
  return {
    sessionId: request.sessionId === '' ? undefined : validateSessionId(request.sessionId, 'session_id'),
    clientId: validateClientId(request.clientId, 'client_id'),
    transport: validateTransport(request.transport, 'transport'),
    ...parseMeasuredDataJson('data_json', request.dataJson, limits),
    ttlMs: request.ttlMs === 0 ? limits.defaultTtlMs : validateTtlMs(request.ttlMs, 'ttl_ms'),
    maxLifetimeMs: validateMaxLifetimeMs(request.maxLifetimeMs, 'max_lifetime_ms'),
    write: writeFields(request),
  };
}

export function validateGet(request: WireGetRequest): { sessionId: string; read: ValidRead } {
  return { sessionId: validateSessionId(request.sessionId, 'session_id'), read: readFields(request) };
}

export interface ValidWriteCommand {
  readonly command: SessionCommand;
  readonly write: ValidWrite;
}

export function validateUpdate(request: WireUpdateRequest, limits: Limits): ValidWriteCommand {
  return {
    command: {
      type: 'update',
      sessionId: validateSessionId(request.sessionId, 'session_id'),
      merge: parseDataJson('data_json', request.dataJson, limits),
      expectedVersion: integer('expected_version', request.expectedVersion, 0),
      ttlMs: request.ttlMs === 0 ? 0 : validateTtlMs(request.ttlMs, 'ttl_ms'),
    },
    write: writeFields(request),
  };
}

export function validateTouch(request: WireTouchRequest): ValidWriteCommand {
  return {
    command: { type: 'touch', sessionId: validateSessionId(request.sessionId, 'session_id') },
    write: writeFields(request),
  };
}

export function validateDelete(request: WireDeleteRequest): ValidWriteCommand {
  return {
    command: { type: 'delete', sessionId: validateSessionId(request.sessionId, 'session_id') },
    write: writeFields(request),
  };
}

export function validateDeleteByClient(request: WireDeleteByClientRequest): ValidWriteCommand {
  return {
    command: { type: 'deleteByClient', clientId: validateClientId(request.clientId, 'client_id') },
    write: writeFields(request),
  };
}

export interface ValidList {
  readonly clientId: string;
  readonly pageSize: number;
  /** '' = from the start. */
  readonly afterSessionId: string;
  readonly read: ValidRead;
}

const PAGE_TOKEN_CHARS_MAX = 512;
const PAGE_TOKEN_VERSION = 1;

/** Opaque to clients: base64url of {v, c: client id, a: last session id of the previous page}. */
export function encodePageToken(clientId: string, afterSessionId: string): string {
  return Buffer.from(JSON.stringify({ v: PAGE_TOKEN_VERSION, c: clientId, a: afterSessionId })).toString('base64url');
}

function decodePageToken(token: string, clientId: string): string {
  if (token === '') return '';
  if (token.length > PAGE_TOKEN_CHARS_MAX || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw invalidArgument('page_token', 'malformed; pass next_page_token unchanged');
  }
  let decoded: { v?: unknown; c?: unknown; a?: unknown };
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof decoded;
  } catch {
    throw invalidArgument('page_token', 'malformed; pass next_page_token unchanged');
  }
  if (decoded === null || typeof decoded !== 'object' || decoded.v !== PAGE_TOKEN_VERSION || typeof decoded.a !== 'string') {
    throw invalidArgument('page_token', 'malformed; pass next_page_token unchanged');
  }
  if (decoded.c !== clientId) throw invalidArgument('page_token', 'was issued for another client_id');
  return validateSessionId(decoded.a, 'page_token');
}

export function validateList(request: WireListRequest, limits: Limits): ValidList {
  const clientId = validateClientId(request.clientId, 'client_id');
  const pageSize =
    request.pageSize === 0 ? limits.listPageSizeDefault : integer('page_size', request.pageSize, 1, limits.listPageSizeMax);
  return { clientId, pageSize, afterSessionId: decodePageToken(request.pageToken, clientId), read: readFields(request) };
}

export function validateCount(request: WireCountRequest): { clientId: string | undefined; read: ValidRead } {
  return {
    clientId: request.clientId === '' ? undefined : validateClientId(request.clientId, 'client_id'),
    read: readFields(request),
  };
}

/** The changes of one entry never reach this many (a batch entry holds at most 1,024 commands, but one command may change many sessions). */
const WATCH_FROM_POSITION_MAX = 0xffff_ffff;

export interface ValidWatch {
  /** undefined = every client. */
  readonly clientId: string | undefined;
  /** 0 = from the next entry the node applies. */
  readonly fromIndex: number;
  readonly fromPosition: number;
}

export function validateWatch(request: WireWatchRequest): ValidWatch {
  const fromIndex = integer('from_index', request.fromIndex, 0);
  const fromPosition = integer('from_position', request.fromPosition, 0, WATCH_FROM_POSITION_MAX);
  if (fromIndex === 0 && fromPosition !== 0) {
    throw invalidArgument('from_position', `${fromPosition} needs a from_index (from_index 0 watches from the next entry, at its first change)`);
  }
  return {
    clientId: request.clientId === '' ? undefined : validateClientId(request.clientId, 'client_id'),
    fromIndex,
    fromPosition,
  };
}
