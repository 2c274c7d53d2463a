/**
 * MessagePack encoding of log entries and of the state machine's stored values. Records
 * (msgpackr's structure extension) are off: plain MessagePack maps, readable by any decoder,
 * and the same bytes on every replica for the same value.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { BatchItem, StampedCommand } from './types.js';
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

/**
 * One batch item's bytes (a command and its request id), packed once when the write arrives;
 * encodeBatch joins items without packing them again.
 */
export function encodeBatchItem(item: BatchItem): Uint8Array {
  return packValue(item.requestId === undefined ? { command: item.command } : { command: item.command, requestId: item.requestId });
}

/**
 * A batch entry: `{ nowMs, batch: [item, ...] }`, the items' bytes (encodeBatchItem) copied in
 * as they are. The map is packed with batch = nil, whose last byte (0xc0) is replaced by the
 * array: the same bytes msgpack would give for the whole value.
 */
export function encodeBatch(nowMs: number, items: readonly Uint8Array[]): Uint8Array {
  const head = packValue({ nowMs, batch: null });
  if (head[head.length - 1] !== 0xc0) throw new Error('encodeBatch: a packed nil was expected at the end of the entry head');
  const count = items.length;
  const arrayHeader =
    count < 16 ? Uint8Array.of(0x90 | count) : count < 0x1_0000 ? Uint8Array.of(0xdc, count >> 8, count & 0xff) : Uint8Array.of(0xdd, count >>> 24, (count >> 16) & 0xff, (count >> 8) & 0xff, count & 0xff);
  let length = head.length - 1 + arrayHeader.length;
  for (const item of items) length += item.length;
  const out = new Uint8Array(length);
  out.set(head.subarray(0, head.length - 1), 0);
  let offset = head.length - 1;
  out.set(arrayHeader, offset);
  offset += arrayHeader.length;
  for (const item of items) {
    out.set(item, offset);
    offset += item.length;
  }
  return out;
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
