/**
 * MessagePack encoding of log entries and of the state machine's stored values. Records
 * (msgpackr's structure extension) are off: plain MessagePack maps, readable by any decoder,
 * and the same bytes on every replica for the same value.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { StampedCommand } from './types.js';
import { ValidationError, validateStampedCommand, type ValidationLimits } from './validate.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export function packValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Throws on bytes that are not exactly one MessagePack value. */
export function unpackValue(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/** The bytes a proposer puts into the log. */
export function encodeCommand(stamped: StampedCommand): Uint8Array {
  const envelope =
    stamped.requestId === undefined
      ? { command: stamped.command, nowMs: stamped.nowMs }
      : { command: stamped.command, nowMs: stamped.nowMs, requestId: stamped.requestId };
  return packValue(envelope);
}

/** The default limits decodeCommand validates against. */
const DEFAULT_LIMITS: ValidationLimits = Object.freeze({ dataBytesMax: 65_536 });

/**
 * Decodes and validates a log entry. Throws ValidationError (field 'entry' for bytes that are
 * not MessagePack) on anything apply() would reject.
 */
export function decodeCommand(bytes: Uint8Array, limits: ValidationLimits = DEFAULT_LIMITS): StampedCommand {
  return validateStampedCommand(decodeEntryValue(bytes), limits);
}

/** MessagePack decode of an entry's bytes; undecodable bytes are a ValidationError. */
export function decodeEntryValue(bytes: Uint8Array): unknown {
  try {
    return unpackValue(bytes);
  } catch (error) {
    throw new ValidationError('entry', `${bytes.length} bytes are not a MessagePack value (${(error as Error).message})`);
  }
}
