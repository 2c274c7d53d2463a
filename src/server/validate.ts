/**
 * Wire request → trusted values, before anything is proposed or read. Every failure is an
 * INVALID_ARGUMENT naming the proto field ("session_id: not a UUID: 'abc'"). Wire-level
 * checks (enum values, presence, 64-bit ranges, page sizes, tokens, JSON shape and size) are
 * here; domain rules for ids, transport and TTLs are session/'s validators (domain.ts).
 */
import type { LogIndex } from '../raft/index.js';
import type { JsonValue, RequestId, SessionCommand } from '../session/index.js';
import type { Durability, ReadConsistency } from './backend.js';
import { checkClientId, checkMaxLifetimeMs, checkSessionId, checkTransport, checkTtlMs } from './domain.js';
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
  'dataBytesMax' | 'dataDepthMax' | 'listPageSizeDefault' | 'listPageSizeMax'
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
    clientId: checkClientId('request_id.client_id', wire.clientId),
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

function depthAtMost(value: JsonValue, depthMax: number): boolean {
  // Iterative, so a hostile nesting cannot overflow the stack; JSON.parse bounded the size.
  const stack: Array<{ value: JsonValue; depth: number }> = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > depthMax) return false;
    const children = Array.isArray(current) ? current : Object.values(current);
    for (const child of children) stack.push({ value: child, depth: depth + 1 });
  }
  return true;
}

/** `data_json`: a JSON object of at most dataBytesMax UTF-8 bytes and dataDepthMax levels; '' = {}. */
export function parseDataJson(field: string, text: string, limits: Limits): JsonObject {
  if (text === '') return {};
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
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgument(field, `must be a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
  if (!depthAtMost(value as JsonObject, limits.dataDepthMax)) {
    throw invalidArgument(field, `nested deeper than ${limits.dataDepthMax} levels`);
  }
  return value as JsonObject;
}

export interface ValidCreate {
  readonly clientId: string;
  readonly transport: string;
  readonly data: JsonObject;
  readonly ttlMs: number;
  readonly maxLifetimeMs: number;
  readonly write: ValidWrite;
}

export function validateCreate(request: WireCreateRequest, limits: Limits): ValidCreate {
  return {
    clientId: checkClientId('client_id', request.clientId),
    transport: checkTransport('transport', request.transport),
    data: parseDataJson('data_json', request.dataJson, limits),
    ttlMs: request.ttlMs === 0 ? 0 : checkTtlMs('ttl_ms', request.ttlMs),
    maxLifetimeMs: request.maxLifetimeMs === 0 ? 0 : checkMaxLifetimeMs('max_lifetime_ms', request.maxLifetimeMs),
    write: writeFields(request),
  };
}

export function validateGet(request: WireGetRequest): { sessionId: string; read: ValidRead } {
  return { sessionId: checkSessionId('session_id', request.sessionId), read: readFields(request) };
}

export interface ValidWriteCommand {
  readonly command: SessionCommand;
  readonly write: ValidWrite;
}

export function validateUpdate(request: WireUpdateRequest, limits: Limits): ValidWriteCommand {
  return {
    command: {
      type: 'update',
      sessionId: checkSessionId('session_id', request.sessionId),
      merge: parseDataJson('data_json', request.dataJson, limits),
      expectedVersion: integer('expected_version', request.expectedVersion, 0),
      ttlMs: request.ttlMs === 0 ? 0 : checkTtlMs('ttl_ms', request.ttlMs),
    },
    write: writeFields(request),
  };
}

export function validateTouch(request: WireTouchRequest): ValidWriteCommand {
  return {
    command: { type: 'touch', sessionId: checkSessionId('session_id', request.sessionId) },
    write: writeFields(request),
  };
}

export function validateDelete(request: WireDeleteRequest): ValidWriteCommand {
  return {
    command: { type: 'delete', sessionId: checkSessionId('session_id', request.sessionId) },
    write: writeFields(request),
  };
}

export function validateDeleteByClient(request: WireDeleteByClientRequest): ValidWriteCommand {
  return {
    command: { type: 'deleteByClient', clientId: checkClientId('client_id', request.clientId) },
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
  return checkSessionId('page_token', decoded.a);
}

export function validateList(request: WireListRequest, limits: Limits): ValidList {
  const clientId = checkClientId('client_id', request.clientId);
  const pageSize =
    request.pageSize === 0 ? limits.listPageSizeDefault : integer('page_size', request.pageSize, 1, limits.listPageSizeMax);
  return { clientId, pageSize, afterSessionId: decodePageToken(request.pageToken, clientId), read: readFields(request) };
}

export function validateCount(request: WireCountRequest): { clientId: string | undefined; read: ValidRead } {
  return {
    clientId: request.clientId === '' ? undefined : checkClientId('client_id', request.clientId),
    read: readFields(request),
  };
}
