/**
 * Domain field checks, each reporting the proto field it was given. PROVISIONAL: these mirror
 * the rules session/ is about to export (validate.ts); once it lands they delegate to it so
 * there is one definition of a valid session id, client id, transport and TTL.
 */
import { invalidArgument } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CLIENT_ID_CHARS_MAX = 256;
const TRANSPORT_CHARS_MAX = 64;
const TTL_MS_MIN = 1_000;
const TTL_MS_MAX = 30 * 24 * 3_600_000;
const MAX_LIFETIME_MS_MAX = 365 * 24 * 3_600_000;

function quoted(value: string): string {
  const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
  return `'${shown}'`;
}

export function checkSessionId(field: string, value: string): string {
  if (value === '') throw invalidArgument(field, 'required');
  if (!UUID.test(value)) throw invalidArgument(field, `not a UUID: ${quoted(value)}`);
  return value.toLowerCase();
}

export function checkClientId(field: string, value: string): string {
  if (value === '') throw invalidArgument(field, 'required');
  if (value.length > CLIENT_ID_CHARS_MAX) throw invalidArgument(field, `longer than ${CLIENT_ID_CHARS_MAX} characters`);
  return value;
}

export function checkTransport(field: string, value: string): string {
  if (value === '') throw invalidArgument(field, 'required');
  if (value.length > TRANSPORT_CHARS_MAX) throw invalidArgument(field, `longer than ${TRANSPORT_CHARS_MAX} characters`);
  return value;
}

function rangeMs(field: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidArgument(field, `${value} is out of range [${min}, ${max}]`);
  }
  return value;
}

export function checkTtlMs(field: string, value: number): number {
  return rangeMs(field, value, TTL_MS_MIN, TTL_MS_MAX);
}

export function checkMaxLifetimeMs(field: string, value: number): number {
  return rangeMs(field, value, TTL_MS_MIN, MAX_LIFETIME_MS_MAX);
}
