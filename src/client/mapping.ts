/** Wire ↔ client types. */
import type {
  Durability,
  JsonObject,
  ReadCallOptions,
  ReadConsistency,
  RequestId,
  Session,
  WireReadFields,
  WireSession,
  WireWriteFields,
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

const DURABILITY_NAMES: Readonly<Record<Durability, 'DURABILITY_SYNC' | 'DURABILITY_ASYNC'>> = { sync: 'DURABILITY_SYNC', async: 'DURABILITY_ASYNC' };
const CONSISTENCY_NAMES: Readonly<Record<ReadConsistency, 'READ_CONSISTENCY_LINEARIZABLE' | 'READ_CONSISTENCY_LEASE' | 'READ_CONSISTENCY_STALE'>> = {
  linearizable: 'READ_CONSISTENCY_LINEARIZABLE',
  lease: 'READ_CONSISTENCY_LEASE',
  stale: 'READ_CONSISTENCY_STALE',
};

export function durabilityFromWire(name: string | undefined): Durability {
  return name === 'DURABILITY_ASYNC' ? 'async' : 'sync';
}

/** durability and request_id of a write request (`requestId`: the caller's, or the one the client assigned). */
export function writeFields(options: WriteCallOptions, requestId: RequestId): WireWriteFields {
  const fields: WireWriteFields = { requestId: { clientId: requestId.clientId, seq: requestId.seq } };
  if (options.durability !== undefined) fields.durability = DURABILITY_NAMES[options.durability];
  return fields;
}

/** consistency and min_index of a read request (`minIndexDefault` when the caller gives none). */
export function readFields(options: ReadCallOptions, minIndexDefault: number): WireReadFields {
  const fields: WireReadFields = {};
  if (options.consistency !== undefined) fields.consistency = CONSISTENCY_NAMES[options.consistency];
  const minIndex = options.minIndex ?? minIndexDefault;
  if (minIndex > 0) fields.minIndex = minIndex;
  return fields;
}
