/** Wire ↔ client types. */
import type {
  Durability,
  JsonObject,
  ReadCallOptions,
  ReadConsistency,
  Session,
  WireRequest,
  WireSession,
  WriteCallOptions,
} from './types.js';

export function sessionFromWire(wire: WireSession): Session {
  return {
    sessionId: wire.sessionId,
    clientId: wire.clientId,
    transport: wire.transport,
    createdAtMs: wire.createdAtMs,
    updatedAtMs: wire.updatedAtMs,
    lastActivityMs: wire.lastActivityMs,
    data: wire.dataJson === '' ? {} : (JSON.parse(wire.dataJson) as JsonObject),
    ttlMs: wire.ttlMs,
    maxLifetimeMs: wire.maxLifetimeMs,
    version: wire.version,
    expiresAtMs: wire.expiresAtMs,
  };
}

const DURABILITY_NAMES: Readonly<Record<Durability, string>> = { sync: 'DURABILITY_SYNC', async: 'DURABILITY_ASYNC' };
const CONSISTENCY_NAMES: Readonly<Record<ReadConsistency, string>> = {
  linearizable: 'READ_CONSISTENCY_LINEARIZABLE',
  lease: 'READ_CONSISTENCY_LEASE',
  stale: 'READ_CONSISTENCY_STALE',
};

export function durabilityFromWire(name: string | undefined): Durability {
  return name === 'DURABILITY_ASYNC' ? 'async' : 'sync';
}

/** durability and request_id of a write request. */
export function writeFields(options: WriteCallOptions): WireRequest {
  const fields: WireRequest = {};
  if (options.durability !== undefined) fields.durability = DURABILITY_NAMES[options.durability];
  if (options.requestId !== undefined) fields.requestId = { clientId: options.requestId.clientId, seq: options.requestId.seq };
  return fields;
}

/** consistency and min_index of a read request. */
export function readFields(options: ReadCallOptions): WireRequest {
  const fields: WireRequest = {};
  if (options.consistency !== undefined) fields.consistency = CONSISTENCY_NAMES[options.consistency];
  if (options.minIndex !== undefined) fields.minIndex = options.minIndex;
  return fields;
}
