/**
 * Input validation for session commands. The server calls it before proposing (so a client
 * hears INVALID_ARGUMENT at once), and apply() calls it again on every decoded entry (so a
 * malformed or hostile log entry becomes an 'invalid' result on every replica instead of
 * corrupting the state). Every message names the field and says what was wrong with it.
 */
import type { JsonValue, RequestId, SessionCommand, StampedCommand } from './types.js';

/** A bad input. `message` is `<field>: <problem>`. */
export class ValidationError extends Error {
  readonly field: string;

  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'ValidationError';
    this.field = field;
  }
}

const SECOND_MS = 1_000;
const DAY_MS = 86_400_000;

/** Shortest sliding idle TTL. */
export const TTL_MS_MIN = SECOND_MS;
/** Longest sliding idle TTL: 30 days. */
export const TTL_MS_MAX = 30 * DAY_MS;
/** Shortest absolute lifetime (0 means none). */
export const MAX_LIFETIME_MS_MIN = SECOND_MS;
/** Longest absolute lifetime: 365 days. */
export const MAX_LIFETIME_MS_MAX = 365 * DAY_MS;
export const CLIENT_ID_CHARS_MAX = 256;
export const TRANSPORT_CHARS_MAX = 32;
/** The data object itself is depth 1; each nested object or array adds one. */
export const DATA_DEPTH_MAX = 32;
/** Session ids in one expire command (the sweeper's batch). */
export const EXPIRE_SESSION_IDS_MAX = 1_000;
/** Largest stamp: the end of the ECMAScript Date range, so clock + 365 days stays a safe integer. */
export const STAMP_MS_MAX = 8.64e15;

/** Session ids are opaque: servers mint UUIDs, callers may choose their own (express-session does). */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const PRINTABLE_ASCII_PATTERN = /^[\x20-\x7e]+$/;
const TRANSPORT_PATTERN = /^[a-z0-9_-]+$/;

/** Limits that validation needs. They must be equal on every replica (apply depends on them). */
export interface ValidationLimits {
  /** Largest `data` object, measured as UTF-8 JSON. */
  readonly dataBytesMax: number;
}

export interface ValidateCommandOptions extends ValidationLimits {
  /**
   * Server side only: a create with ttlMs 0 (or absent) gets this TTL before it is proposed.
   * apply() never passes it, so the log always carries explicit values.
   */
  readonly defaultTtlMs?: number;
  /**
   * apply() only: a create's `dataBytes` (its proposer's measurement, carried in the log) is
   * taken instead of checking and measuring the data again. The proposer checked it; every
   * replica takes the same number, so they still agree.
   */
  readonly proposerMeasured?: boolean;
}

/** A short, printable rendering of a bad value for an error message. */
function show(value: unknown): string {
  if (typeof value === 'string') {
    const text = JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
    return text;
  }
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function validateSessionId(value: unknown, field = 'sessionId'): string {
  if (typeof value !== 'string' || !SESSION_ID_PATTERN.test(value)) {
    throw new ValidationError(field, `must be 1-128 characters of [A-Za-z0-9_-], got ${show(value)}`);
  }
  return value;
}

export function validateClientId(value: unknown, field = 'clientId'): string {
  if (typeof value !== 'string') throw new ValidationError(field, `must be a string, got ${show(value)}`);
  if (value.length === 0 || value.length > CLIENT_ID_CHARS_MAX) {
    throw new ValidationError(field, `must be 1..${CLIENT_ID_CHARS_MAX} characters, got ${value.length}`);
  }
  if (!PRINTABLE_ASCII_PATTERN.test(value)) {
    throw new ValidationError(field, `must be printable ASCII without control characters, got ${show(value)}`);
  }
  return value;
}

export function validateTransport(value: unknown, field = 'transport'): string {
  if (typeof value !== 'string') throw new ValidationError(field, `must be a string, got ${show(value)}`);
  if (value.length === 0 || value.length > TRANSPORT_CHARS_MAX || !TRANSPORT_PATTERN.test(value)) {
    throw new ValidationError(field, `must be 1..${TRANSPORT_CHARS_MAX} characters of [a-z0-9_-], got ${show(value)}`);
  }
  return value;
}

function validateInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new ValidationError(field, `must be an integer, got ${show(value)}`);
  }
  if (value < min || value > max) throw new ValidationError(field, `${value} is outside [${min}, ${max}]`);
  return value;
}

export function validateTtlMs(value: unknown, field = 'ttlMs'): number {
  return validateInteger(value, field, TTL_MS_MIN, TTL_MS_MAX);
}

/** 0 (no absolute lifetime) or within [1 s, 365 days]. */
export function validateMaxLifetimeMs(value: unknown, field = 'maxLifetimeMs'): number {
  if (value === 0) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new ValidationError(field, `must be an integer, got ${show(value)}`);
  }
  if (value < MAX_LIFETIME_MS_MIN || value > MAX_LIFETIME_MS_MAX) {
    throw new ValidationError(field, `${value} is neither 0 (none) nor within [${MAX_LIFETIME_MS_MIN}, ${MAX_LIFETIME_MS_MAX}]`);
  }
  return value;
}

/** UTF-8 length of the JSON encoding: the size `dataBytesMax` limits. */
export function jsonBytes(value: JsonValue | { readonly [key: string]: JsonValue }): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** Throws unless `value` is JSON (finite numbers, plain objects, no `__proto__` keys) of bounded depth. */
function checkJson(value: unknown, field: string, path: string, depth: number): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValidationError(field, `${path} is ${value}, which is not a JSON number`);
    return;
  }
  if (typeof value !== 'object' || (!Array.isArray(value) && !isPlainObject(value))) {
    const kind = typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
    throw new ValidationError(field, `${path} is a ${kind}, which is not a JSON value`);
  }
  if (depth + 1 > DATA_DEPTH_MAX) {
    throw new ValidationError(field, `nesting depth exceeds the limit of ${DATA_DEPTH_MAX} at ${path}`);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkJson(value[i], field, `${path}[${i}]`, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    if (key === '__proto__') throw new ValidationError(field, `${path} has the key "__proto__", which is not allowed`);
    checkJson(value[key], field, `${path}.${key}`, depth + 1);
  }
}

/**
 * A JSON object of at most `dataBytesMax` bytes (UTF-8 JSON) and depth ≤ DATA_DEPTH_MAX.
 * Returns its size in bytes.
 */
export function validateData(value: unknown, dataBytesMax: number, field = 'data'): number {
  if (!isPlainObject(value)) throw new ValidationError(field, `must be a JSON object, got ${show(value)}`);
  checkJson(value, field, field, 0);
  const bytes = jsonBytes(value as { [key: string]: JsonValue });
  if (bytes > dataBytesMax) throw new ValidationError(field, `${bytes} bytes exceeds the limit of ${dataBytesMax}`);
  return bytes;
}

/** A data object whose size its proposer measured: only its kind and the number are checked. */
function measuredData(data: unknown, dataBytes: unknown, dataBytesMax: number): number {
  if (!isPlainObject(data)) throw new ValidationError('data', `must be a JSON object, got ${show(data)}`);
  return validateInteger(dataBytes, 'dataBytes', 2, dataBytesMax);
}

export function validateRequestId(value: unknown, field = 'requestId'): RequestId {
  if (!isPlainObject(value)) throw new ValidationError(field, `must be an object { clientId, seq }, got ${show(value)}`);
  const clientId = validateClientId(value.clientId, `${field}.clientId`);
  const seq = validateInteger(value.seq, `${field}.seq`, 0, Number.MAX_SAFE_INTEGER);
  return { clientId, seq };
}

function optionalZero(value: unknown): unknown {
  return value === undefined ? 0 : value;
}

/** Where validateCommand reports the JSON size of a create's data it measured, so apply() need not measure it again. */
export interface MeasuredSizes {
  dataBytes: number;
}

function validateCreate(c: Record<string, unknown>, options: ValidateCommandOptions, measured?: MeasuredSizes): SessionCommand {
  const sessionId = validateSessionId(c.sessionId);
  const clientId = validateClientId(c.clientId);
  const transport = validateTransport(c.transport);
  const dataBytes =
    options.proposerMeasured === true && c.dataBytes !== undefined
      ? measuredData(c.data, c.dataBytes, options.dataBytesMax)
      : validateData(c.data, options.dataBytesMax);
  if (measured !== undefined) measured.dataBytes = dataBytes;
  const ttlRequested = optionalZero(c.ttlMs);
  const ttlMs = validateTtlMs(ttlRequested === 0 && options.defaultTtlMs !== undefined ? options.defaultTtlMs : ttlRequested);
  const maxLifetimeMs = validateMaxLifetimeMs(optionalZero(c.maxLifetimeMs));
  const data = c.data as { [key: string]: JsonValue };
  return { type: 'create', sessionId, clientId, transport, data, ttlMs, maxLifetimeMs };
}

function validateUpdate(c: Record<string, unknown>, options: ValidationLimits): SessionCommand {
  const sessionId = validateSessionId(c.sessionId);
  validateData(c.merge, options.dataBytesMax, 'merge');
  const expectedVersion = validateInteger(optionalZero(c.expectedVersion), 'expectedVersion', 0, Number.MAX_SAFE_INTEGER);
  const ttlRequested = optionalZero(c.ttlMs);
  const ttlMs = ttlRequested === 0 ? 0 : validateTtlMs(ttlRequested);
  const merge = c.merge as { [key: string]: JsonValue };
  return { type: 'update', sessionId, merge, expectedVersion, ttlMs };
}

function validateExpire(c: Record<string, unknown>): SessionCommand {
  const ids = c.sessionIds;
  if (!Array.isArray(ids)) throw new ValidationError('sessionIds', `must be an array, got ${show(ids)}`);
  if (ids.length > EXPIRE_SESSION_IDS_MAX) {
    throw new ValidationError('sessionIds', `${ids.length} ids exceed the limit of ${EXPIRE_SESSION_IDS_MAX}`);
  }
  const sessionIds = ids.map((id, i) => validateSessionId(id, `sessionIds[${i}]`));
  return { type: 'expire', sessionIds };
}

/**
 * Checks a command and returns a clean copy (only the known fields, optional numbers
 * defaulted to 0, a create's ttlMs 0 replaced by `defaultTtlMs` when given).
 */
export function validateCommand(value: unknown, options: ValidateCommandOptions, measured?: MeasuredSizes): SessionCommand {
  if (!isPlainObject(value)) throw new ValidationError('command', `must be an object, got ${show(value)}`);
  switch (value.type) {
    case 'create':
      return validateCreate(value, options, measured);
    case 'update':
      return validateUpdate(value, options);
    case 'touch':
      return { type: 'touch', sessionId: validateSessionId(value.sessionId) };
    case 'delete':
      return { type: 'delete', sessionId: validateSessionId(value.sessionId) };
    case 'deleteByClient':
      return { type: 'deleteByClient', clientId: validateClientId(value.clientId) };
    case 'expire':
      return validateExpire(value);
    default:
      throw new ValidationError('command.type', `unknown command type ${show(value.type)}`);
  }
}

/** A stamp: an integer in [0, STAMP_MS_MAX]. */
export function validateStampMs(value: unknown, field = 'nowMs'): number {
  return validateInteger(value, field, 0, STAMP_MS_MAX);
}

/** The envelope (stamp and request id) only; `command` is returned unchecked. */
export function validateEnvelope(value: unknown): { nowMs: number; requestId?: RequestId; command: unknown } {
  if (!isPlainObject(value)) throw new ValidationError('entry', `must be a stamped command object, got ${show(value)}`);
  const nowMs = validateStampMs(value.nowMs);
  const requestId = value.requestId === undefined || value.requestId === null ? undefined : validateRequestId(value.requestId);
  return requestId === undefined ? { nowMs, command: value.command } : { nowMs, requestId, command: value.command };
}

/** Commands one batch entry may hold (the node packs fewer: NODE_DEFAULTS). */
export const BATCH_ITEMS_MAX = 65_536;

/**
 * A batch entry's stamp and items (each item's request id checked, its command unchecked), or
 * undefined when `value` is a single-command entry. Throws on a malformed batch.
 */
export function validateBatchEnvelope(value: unknown): { nowMs: number; items: { requestId?: RequestId; command: unknown }[] } | undefined {
  if (!isPlainObject(value) || value.batch === undefined) return undefined;
  const nowMs = validateStampMs(value.nowMs);
  if (!Array.isArray(value.batch) || value.batch.length === 0 || value.batch.length > BATCH_ITEMS_MAX) {
    throw new ValidationError('batch', `must be an array of 1..${BATCH_ITEMS_MAX} items, got ${show(value.batch)}`);
  }
  const items = value.batch.map((item: unknown, i: number) => {
    if (!isPlainObject(item)) throw new ValidationError(`batch[${i}]`, `must be an object { command, requestId? }, got ${show(item)}`);
    const requestId = item.requestId === undefined || item.requestId === null ? undefined : validateRequestId(item.requestId, `batch[${i}].requestId`);
    return requestId === undefined ? { command: item.command } : { requestId, command: item.command };
  });
  return { nowMs, items };
}

export function validateStampedCommand(value: unknown, options: ValidateCommandOptions): StampedCommand {
  const envelope = validateEnvelope(value);
  const command = validateCommand(envelope.command, options);
  return envelope.requestId === undefined
    ? { command, nowMs: envelope.nowMs }
    : { command, nowMs: envelope.nowMs, requestId: envelope.requestId };
}
