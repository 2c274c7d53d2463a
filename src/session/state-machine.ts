/**
 * The session state machine. The whole state lives in memory (sessions by id, an index per
 * client, an expiry index, the exactly-once table, the clock); the StateStore holds the
 * durable copy, written from the ops that applyEntries() returns, in the same batch as the
 * applied index. apply() is deterministic: time comes only from the leader's stamps.
 */
import { createHash } from 'node:crypto';
import type { EntryType, LogIndex } from '../raft/index.js';
import type { StateOp } from '../storage/index.js';
import { decodeEntryValue, packValue, unpackValue } from './codec.js';
import { DedupTable, dedupKey, encodeDedupRecord, estimateDedupBytes, logPosition, makeDedupRecord, type DedupRecord } from './dedup.js';
import { SetHash, sha256Big } from './digest.js';
import {
  resolveSessionStateMachineOptions,
  type ResolvedSessionStateMachineOptions,
  type SessionStateMachineOptions,
} from './options.js';
import { ExpiryIndex } from './expiry-index.js';
import { SortedList, compareStrings } from './sorted-list.js';
import type {
  AppliedResult,
  CommandErrorCode,
  CommandResult,
  JsonValue,
  RequestId,
  Session,
  SessionChange,
  SessionChangeType,
  SessionCommand,
  SessionQueries,
} from './types.js';
import { ValidationError, jsonBytes, validateBatchEnvelope, validateCommand, validateEnvelope, type MeasuredSizes } from './validate.js';

/** One committed entry to apply (a raft Entry fits). Conf-change entries may be passed (skipped) or left out. */
export interface ApplyEntry {
  readonly index: LogIndex;
  readonly data: Uint8Array;
  /** @default 'normal' */
  readonly type?: EntryType;
}

export interface ApplyOutcome {
  /** One per command entry, in log order; none for no-ops, conf changes and already-applied entries. */
  readonly results: AppliedResult[];
  /** To write with StateStore.commit(ops, appliedIndex) in one batch. */
  readonly ops: StateOp[];
  /** Every change to a session, in apply order (what watchers are told). */
  readonly changes: SessionChange[];
}

/** StateStore keys. The client and expiry indexes are not stored; load() rebuilds them. */
export const SESSION_KEY_PREFIX = 's/';
export const DEDUP_KEY_PREFIX = 'd/';
export const CLOCK_KEY = 'm/clock';
export const APPLIED_KEY = 'm/applied';

const DIGEST_DOMAIN = 'sessionraft-session-state-v1';

/** One version of a session, with what the digest and the dedup size estimate need, each computed once. */
interface Held {
  readonly session: Session;
  /** SHA-256 of the stored encoding; set when the batch that made this version ends. */
  hash: bigint;
  /** UTF-8 JSON size of session.data; -1 until first needed. */
  dataBytes: number;
  /**
   * packValue(session), when a dedup record of this batch needed it before #finish (which takes
   * it for the session's row and drops it: held for the whole state it would double the memory).
   */
  packed: Uint8Array | undefined;
}

/** Changes made by one applyEntries() call, turned into ops at its end. */
interface Batch {
  /** Session id → the session as it was before this batch (undefined if absent). */
  readonly sessionsBefore: Map<string, Held | undefined>;
  /** Dedup key → encoded record to put, or null to delete. */
  readonly dedup: Map<string, Uint8Array | null>;
  readonly clockMsBefore: number;
  readonly appliedIndexBefore: LogIndex;
  readonly changes: SessionChange[];
  /** The command being applied: where its changes are reported. */
  at: { index: LogIndex; slot: number };
}

export function sessionKey(sessionId: string): string {
  return `${SESSION_KEY_PREFIX}${sessionId}`;
}

/** min(lastActivity + ttl, createdAt + maxLifetime when set). */
export function computeExpiresAtMs(
  lastActivityMs: number,
  createdAtMs: number,
  ttlMs: number,
  maxLifetimeMs: number,
): number {
  const idleExpiresAtMs = lastActivityMs + ttlMs;
  return maxLifetimeMs > 0 ? Math.min(idleExpiresAtMs, createdAtMs + maxLifetimeMs) : idleExpiresAtMs;
}

/** The one place a Session is built: fixed key order (stable encodings), frozen. */
function makeSession(s: Omit<Session, 'expiresAtMs'>): Session {
  return Object.freeze({
    sessionId: s.sessionId,
    clientId: s.clientId,
    transport: s.transport,
    createdAtMs: s.createdAtMs,
    updatedAtMs: s.updatedAtMs,
    lastActivityMs: s.lastActivityMs,
    data: Object.isFrozen(s.data) ? s.data : Object.freeze(s.data),
    ttlMs: s.ttlMs,
    maxLifetimeMs: s.maxLifetimeMs,
    version: s.version,
    expiresAtMs: computeExpiresAtMs(s.lastActivityMs, s.createdAtMs, s.ttlMs, s.maxLifetimeMs),
  });
}

/** Top-level merge: a key in `merge` replaces the old value (null removes it); others stay. */
export function mergeData(
  base: { readonly [key: string]: JsonValue },
  merge: { readonly [key: string]: JsonValue },
): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const [key, value] of Object.entries(base)) {
    if (!Object.hasOwn(merge, key)) out[key] = value;
    else if (merge[key] !== null) out[key] = merge[key] as JsonValue;
  }
  for (const [key, value] of Object.entries(merge)) {
    if (value !== null && !Object.hasOwn(base, key)) out[key] = value;
  }
  return out;
}

const ok = (fields: { session?: Session; deleted?: number }): CommandResult => Object.freeze({ ok: true, ...fields });
const fail = (code: CommandErrorCode, message: string): CommandResult =>
  Object.freeze({ ok: false, code, message });
const notFound = (sessionId: string): CommandResult =>
  fail('notFound', `session ${sessionId} not found (absent, deleted or expired)`);

export class SessionStateMachine implements SessionQueries {
  readonly options: ResolvedSessionStateMachineOptions;
  readonly #sessions = new Map<string, Held>();
  /** clientId → its session ids, sorted (paged listing). */
  #byClient = new Map<string, SortedList<string>>();
  /** Every session, by expiresAtMs: the sweeper's and count()'s view. */
  #byExpiry = new ExpiryIndex();
  readonly #dedup: DedupTable;
  readonly #sessionHash = new SetHash();
  #clockMs = 0;
  #appliedIndex = 0 as LogIndex;

  constructor(options: SessionStateMachineOptions = {}) {
    this.options = resolveSessionStateMachineOptions(options);
    this.#dedup = new DedupTable(this.options);
  }

  /**
   * The options apply() depends on, as one string: replicas must agree on it or they would
   * answer the same entry differently (the node's transport refuses peers that differ).
   */
  get sharedSettings(): string {
    const o = this.options;
    return `entryFormat=2,dataBytesMax=${o.dataBytesMax},dedupEntriesMax=${o.dedupEntriesMax},dedupEntriesPerClientMax=${o.dedupEntriesPerClientMax},dedupBytesMax=${o.dedupBytesMax}`;
  }

  /** Index of the last entry applied (or loaded). */
  get appliedIndex(): LogIndex {
    return this.#appliedIndex;
  }

  /** The state machine's clock: the largest stamp applied so far (never goes back). */
  get clockMs(): number {
    return this.#clockMs;
  }

  /** Sessions held, including expired ones the sweeper has not removed yet. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  get dedupEntryCount(): number {
    return this.#dedup.size;
  }

  /** For the proposer: validates a command against this machine's limits, filling in defaultTtlMs. */
  validateCommand(command: unknown): SessionCommand {
    return validateCommand(command, this.options);
  }

  // ---- apply -------------------------------------------------------------------------------

  /**
   * Applies committed entries in ascending index order. Entries at or below appliedIndex are
   * skipped (a re-delivery after restart). Gaps are allowed: the runtime may leave out
   * conf-change entries (or pass them with type 'confChange'; they are skipped). Empty data
   * (the leader's no-op) advances the applied index and yields no result. Bad bytes yield
   * { ok: false, code: 'invalid' } on every replica alike. A thrown Error means a broken
   * invariant: the replica must stop, not continue.
   */
  applyEntries(entries: readonly ApplyEntry[]): ApplyOutcome {
    const batch: Batch = {
      sessionsBefore: new Map(),
      dedup: new Map(),
      clockMsBefore: this.#clockMs,
      appliedIndexBefore: this.#appliedIndex,
      changes: [],
      at: { index: 0 as LogIndex, slot: 0 },
    };
    const results: AppliedResult[] = [];
    for (const entry of entries) {
      if (!Number.isSafeInteger(entry.index) || entry.index <= 0) {
        throw new Error(`applyEntries: entry index ${entry.index} is not a positive integer`);
      }
      if (entry.index <= this.#appliedIndex) continue;
      this.#appliedIndex = entry.index;
      if (entry.type === 'confChange' || entry.data.length === 0) continue;
      this.#applyEntry(entry.index, entry.data, batch, results);
    }
    return { results, ops: this.#finish(batch), changes: batch.changes };
  }

  /** One result for a single-command entry; one per item, with its slot, for a batch entry. */
  #applyEntry(index: LogIndex, data: Uint8Array, batch: Batch, results: AppliedResult[]): void {
    let value: unknown;
    let batchEnvelope: ReturnType<typeof validateBatchEnvelope>;
    try {
      value = decodeEntryValue(data);
      batchEnvelope = validateBatchEnvelope(value);
    } catch (error) {
      results.push(Object.freeze({ index, result: fail('invalid', (error as Error).message) }));
      return;
    }
    if (batchEnvelope === undefined) {
      results.push(Object.freeze({ index, result: this.#applySingle(index, value, batch) }));
      return;
    }
    if (batchEnvelope.nowMs > this.#clockMs) this.#clockMs = batchEnvelope.nowMs;
    for (const [slot, item] of batchEnvelope.items.entries()) {
      results.push(Object.freeze({ index, slot, result: this.#applyOnce(index, slot, item.requestId, item.command, batch) }));
    }
  }

  #applySingle(index: LogIndex, value: unknown, batch: Batch): CommandResult {
    let envelope: ReturnType<typeof validateEnvelope>;
    try {
      envelope = validateEnvelope(value);
    } catch (error) {
      return fail('invalid', (error as Error).message);
    }
    if (envelope.nowMs > this.#clockMs) this.#clockMs = envelope.nowMs;
    return this.#applyOnce(index, undefined, envelope.requestId, envelope.command, batch);
  }

  /** Exactly-once: a request applied before gets its remembered answer. */
  #applyOnce(index: LogIndex, slot: number | undefined, requestId: RequestId | undefined, command: unknown, batch: Batch): CommandResult {
    if (requestId !== undefined) {
      const prior = this.#dedup.lookup(requestId.clientId, requestId.seq);
      if (prior !== undefined) return prior.result;
    }
    batch.at = { index, slot: slot ?? 0 };
    const result = this.#applyCommand(command, batch);
    if (requestId !== undefined) this.#remember(requestId, index, slot, result, batch);
    return result;
  }

  /**
   * The remembered answer to a request already applied (exactly-once), for a proposer that can
   * answer a retry without a new log entry.
   */
  rememberedAnswer(requestId: RequestId): AppliedResult | undefined {
    const record = this.#dedup.lookup(requestId.clientId, requestId.seq);
    return record === undefined ? undefined : { index: record.index, result: record.result };
  }

  #applyCommand(raw: unknown, batch: Batch): CommandResult {
    let command: SessionCommand;
    const measured: MeasuredSizes = { dataBytes: -1 };
    try {
      // Only the limits: defaultTtlMs is the proposer's business, never apply()'s.
      command = validateCommand(raw, { dataBytesMax: this.options.dataBytesMax, proposerMeasured: true }, measured);
    } catch (error) {
      // Validation changes nothing, so any failure is the entry's fault: answer, never crash
      // (every replica would crash on the same entry, forever).
      return fail('invalid', error instanceof ValidationError ? error.message : `command: ${(error as Error).message}`);
    }
    switch (command.type) {
      case 'create':
        return this.#create(command, measured.dataBytes, batch);
      case 'update':
        return this.#update(command, batch);
      case 'touch':
        return this.#touch(command.sessionId, batch);
      case 'delete':
        return this.#delete(command.sessionId, batch);
      case 'deleteByClient':
        return this.#deleteByClient(command.clientId, batch);
      case 'expire':
        return this.#expire(command.sessionIds, batch);
    }
  }

  #live(sessionId: string): Held | undefined {
    const held = this.#sessions.get(sessionId);
    return held !== undefined && held.session.expiresAtMs > this.#clockMs ? held : undefined;
  }

  #create(c: Extract<SessionCommand, { type: 'create' }>, dataBytes: number, batch: Batch): CommandResult {
    const existing = this.#sessions.get(c.sessionId);
    if (existing !== undefined) {
      if (existing.session.expiresAtMs > this.#clockMs) return fail('alreadyExists', `session ${c.sessionId} already exists`);
      this.#removeSession(existing, batch); // expired, not swept yet: it counts as absent
      this.#changed(batch, 'expired', existing);
    }
    const now = this.#clockMs;
    const session = makeSession({
      sessionId: c.sessionId,
      clientId: c.clientId,
      transport: c.transport,
      createdAtMs: now,
      updatedAtMs: now,
      lastActivityMs: now,
      data: c.data,
      ttlMs: c.ttlMs,
      maxLifetimeMs: c.maxLifetimeMs,
      version: 1,
    });
    this.#changed(batch, 'created', this.#putSession(session, undefined, batch, dataBytes));
    return ok({ session });
  }

  #update(c: Extract<SessionCommand, { type: 'update' }>, batch: Batch): CommandResult {
    const held = this.#live(c.sessionId);
    if (held === undefined) return notFound(c.sessionId);
    const current = held.session;
    if (c.expectedVersion !== 0 && c.expectedVersion !== current.version) {
      return fail('versionMismatch', `session ${c.sessionId} is at version ${current.version}, not the expected ${c.expectedVersion}`);
    }
    const data = mergeData(current.data, c.merge);
    const bytes = jsonBytes(data);
    if (bytes > this.options.dataBytesMax) {
      return fail('invalid', `data: ${bytes} bytes after the merge exceeds the limit of ${this.options.dataBytesMax}`);
    }
    const now = this.#clockMs;
    const session = makeSession({
      ...current,
      data,
      ttlMs: c.ttlMs === 0 ? current.ttlMs : c.ttlMs,
      version: current.version + 1,
      updatedAtMs: now,
      lastActivityMs: now,
    });
    this.#changed(batch, 'updated', this.#putSession(session, held, batch, bytes));
    return ok({ session });
  }

  #touch(sessionId: string, batch: Batch): CommandResult {
    const held = this.#live(sessionId);
    if (held === undefined) return notFound(sessionId);
    const current = held.session;
    const session = makeSession({ ...current, version: current.version + 1, lastActivityMs: this.#clockMs });
    this.#changed(batch, 'touched', this.#putSession(session, held, batch, held.dataBytes));
    return ok({ session });
  }

  #delete(sessionId: string, batch: Batch): CommandResult {
    const held = this.#live(sessionId);
    if (held === undefined) return notFound(sessionId);
    this.#removeSession(held, batch);
    this.#changed(batch, 'deleted', held);
    return ok({ deleted: 1 });
  }

  /** Removes every session of the client (expired ones too); `deleted` counts the live ones. */
  #deleteByClient(clientId: string, batch: Batch): CommandResult {
    const ids = this.#byClient.get(clientId);
    if (ids === undefined) return ok({ deleted: 0 });
    let deleted = 0;
    for (const sessionId of Array.from(ids.values())) {
      const held = this.#sessions.get(sessionId) as Held;
      const live = held.session.expiresAtMs > this.#clockMs;
      if (live) deleted++;
      this.#removeSession(held, batch);
      this.#changed(batch, live ? 'deleted' : 'expired', held);
    }
    return ok({ deleted });
  }

  /** Removes each listed session still due at the clock; one touched since the sweep stays. */
  #expire(sessionIds: readonly string[], batch: Batch): CommandResult {
    let deleted = 0;
    for (const sessionId of sessionIds) {
      const held = this.#sessions.get(sessionId);
      if (held === undefined || held.session.expiresAtMs > this.#clockMs) continue;
      this.#removeSession(held, batch);
      this.#changed(batch, 'expired', held);
      deleted++;
    }
    return ok({ deleted });
  }

  #remember(requestId: RequestId, index: LogIndex, slot: number | undefined, result: CommandResult, batch: Batch): void {
    const held = this.#currentHeld(result);
    if (held !== undefined && held.dataBytes < 0) held.dataBytes = jsonBytes(held.session.data);
    const record = makeDedupRecord({
      clientId: requestId.clientId,
      seq: requestId.seq,
      index,
      ...(slot !== undefined ? { slot } : {}),
      bytes: estimateDedupBytes(requestId.clientId, result, held?.dataBytes),
      result,
    });
    // The session's packed bytes are kept on `held` for its row in #finish.
    const encoded = encodeDedupRecord(record, held === undefined ? undefined : (held.packed ??= packValue(held.session)));
    const evicted = this.#dedup.add(record, encoded);
    batch.dedup.set(dedupKey(record.clientId, record.seq), encoded);
    for (const old of evicted) batch.dedup.set(dedupKey(old.clientId, old.seq), null);
  }

  /** What is held of the session in a result, when that session is its current version. */
  #currentHeld(result: CommandResult): Held | undefined {
    if (!result.ok || result.session === undefined) return undefined;
    const held = this.#sessions.get(result.session.sessionId);
    return held !== undefined && held.session === result.session ? held : undefined;
  }

  // ---- index maintenance -------------------------------------------------------------------

  /** Reports a change of the command being applied (`held`: the session after it, or its last version); positions count up within its entry. */
  #changed(batch: Batch, type: SessionChangeType, held: Held): void {
    const { index, slot } = batch.at;
    const previous = batch.changes[batch.changes.length - 1];
    const position = previous !== undefined && previous.index === index ? previous.position + 1 : 0;
    if (held.dataBytes < 0) held.dataBytes = jsonBytes(held.session.data);
    batch.changes.push(Object.freeze({ index, position, slot, type, session: held.session, dataBytes: held.dataBytes }));
  }

  #markDirty(sessionId: string, before: Held | undefined, batch: Batch): void {
    if (!batch.sessionsBefore.has(sessionId)) batch.sessionsBefore.set(sessionId, before);
  }

  /** Stores `next`, replacing `previousHeld` (same id) if given. dataBytes: known size of next.data, or -1. */
  #putSession(next: Session, previousHeld: Held | undefined, batch: Batch, dataBytes = -1): Held {
    this.#markDirty(next.sessionId, previousHeld, batch);
    const previous = previousHeld?.session;
    if (previous === undefined) {
      let ids = this.#byClient.get(next.clientId);
      if (ids === undefined) {
        ids = new SortedList<string>(compareStrings);
        this.#byClient.set(next.clientId, ids);
      }
      if (!ids.add(next.sessionId)) throw new Error(`client index already holds session ${next.sessionId}`);
    } else {
      if (previous.clientId !== next.clientId) throw new Error(`session ${next.sessionId} changed its clientId`);
      if (!this.#byExpiry.delete(previous)) throw new Error(`expiry index lacks session ${previous.sessionId} at ${previous.expiresAtMs}`);
    }
    const held: Held = { session: next, hash: 0n, dataBytes, packed: undefined };
    this.#sessions.set(next.sessionId, held);
    if (!this.#byExpiry.add(next)) throw new Error(`expiry index already holds session ${next.sessionId}`);
    return held;
  }

  #removeSession(held: Held, batch: Batch): void {
    const session = held.session;
    this.#markDirty(session.sessionId, held, batch);
    this.#sessions.delete(session.sessionId);
    if (!this.#byExpiry.delete(session)) throw new Error(`expiry index lacks session ${session.sessionId} at ${session.expiresAtMs}`);
    const ids = this.#byClient.get(session.clientId);
    if (ids === undefined || !ids.delete(session.sessionId)) {
      throw new Error(`client index of ${session.clientId} lacks session ${session.sessionId}`);
    }
    if (ids.size === 0) this.#byClient.delete(session.clientId);
  }

  /** Turns the batch into ops (one per changed key) and brings the session digest up to date. */
  #finish(batch: Batch): StateOp[] {
    const ops: StateOp[] = [];
    for (const [sessionId, before] of batch.sessionsBefore) {
      const after = this.#sessions.get(sessionId);
      if (after === before) continue;
      if (before !== undefined) this.#sessionHash.remove(before.hash);
      if (after === undefined) {
        ops.push({ type: 'del', key: sessionKey(sessionId) });
        continue;
      }
      const value = after.packed ?? packValue(after.session);
      after.packed = undefined;
      after.hash = sha256Big(value);
      this.#sessionHash.add(after.hash);
      ops.push({ type: 'put', key: sessionKey(sessionId), value });
    }
    for (const [key, value] of batch.dedup) {
      ops.push(value === null ? { type: 'del', key } : { type: 'put', key, value });
    }
    if (this.#clockMs !== batch.clockMsBefore) ops.push({ type: 'put', key: CLOCK_KEY, value: packValue(this.#clockMs) });
    if (this.#appliedIndex !== batch.appliedIndexBefore) {
      ops.push({ type: 'put', key: APPLIED_KEY, value: packValue(this.#appliedIndex) });
    }
    return ops;
  }

  // ---- queries -----------------------------------------------------------------------------

  get(sessionId: string, nowMs: number): Session | undefined {
    const session = this.#sessions.get(sessionId)?.session;
    return session !== undefined && session.expiresAtMs > nowMs ? session : undefined;
  }

  listByClient(clientId: string, nowMs: number, afterSessionId: string, limit: number): Session[] {
    const out: Session[] = [];
    const ids = this.#byClient.get(clientId);
    if (ids === undefined || !(limit > 0)) return out;
    const iterator = afterSessionId === '' ? ids.values() : ids.valuesAfter(afterSessionId);
    for (const sessionId of iterator) {
      const session = (this.#sessions.get(sessionId) as Held).session;
      if (session.expiresAtMs > nowMs) out.push(session);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**


   */
  count(nowMs: number, clientId?: string): number {
    const expired = this.#byExpiry.countDue(nowMs);
    if (clientId === undefined) return this.#sessions.size - expired;
    const ids = this.#byClient.get(clientId);
    if (ids === undefined) return 0;
    if (expired === 0) return ids.size;
    let live = 0;
    if (ids.size <= expired) {
      for (const sessionId of ids.values()) if ((this.#sessions.get(sessionId) as Held).session.expiresAtMs > nowMs) live++;
      return live;
    }
    let expiredOfClient = 0;
    for (const session of this.#byExpiry.due(nowMs)) if (session.clientId === clientId) expiredOfClient++;
    return ids.size - expiredOfClient;
  }

  /** For the leader's sweeper: ids of sessions expired at nowMs, soonest first, at most `limit`. */
  dueForExpiry(nowMs: number, limit: number): string[] {
    return limit > 0 ? this.#byExpiry.dueIds(nowMs, limit) : [];
  }

  /**
   * Hex SHA-256 over the session count and set hash, the dedup count and set hash, and the
   * clock. The set hashes are kept up to date on every apply, so this costs one small hash.
   * Equal on every replica at the same applied index (the applied index itself is not in it).
   */
  digest(): string {
    const text = [
      DIGEST_DOMAIN,
      this.#sessions.size,
      this.#sessionHash.hex(),
      this.#dedup.size,
      this.#dedup.hashHex(),
      this.#clockMs,
    ].join('\n');
    return createHash('sha256').update(text).digest('hex');
  }

  // ---- state as key-value pairs (the node's LevelDB copy and its snapshots) ----------------

  /** Rebuilds the state from the StateStore's key-value pairs (start-up, snapshot install). */
  async load(entries: AsyncIterable<readonly [string, Uint8Array]> | Iterable<readonly [string, Uint8Array]>): Promise<void> {
    const sessions: [Session, bigint][] = [];
    const dedup: [DedupRecord, bigint][] = [];
    let clockMs = 0;
    let appliedIndex = 0;
    for await (const [key, value] of entries) {
      if (key.startsWith(SESSION_KEY_PREFIX)) {
        const session = checkStoredSession(unpackValue(value), key);
        if (sessionKey(session.sessionId) !== key) throw new Error(`load: key ${key} holds session ${session.sessionId}`);
        sessions.push([session, sha256Big(value)]);
      } else if (key.startsWith(DEDUP_KEY_PREFIX)) {
        const record = checkStoredDedup(unpackValue(value), key);
        if (dedupKey(record.clientId, record.seq) !== key) throw new Error(`load: key ${key} holds dedup record ${record.clientId}/${record.seq}`);
        dedup.push([record, sha256Big(value)]);
      } else if (key === CLOCK_KEY) {
        clockMs = checkNumber(unpackValue(value), key);
      } else if (key === APPLIED_KEY) {
        appliedIndex = checkNumber(unpackValue(value), key);
      } else {
        throw new Error(`load: unknown state key ${JSON.stringify(key)}`);
      }
    }
    this.#install({ sessions, dedup, clockMs, appliedIndex: appliedIndex as LogIndex });
  }

  /** The whole state as StateStore pairs. */
  *stateEntries(): Generator<[string, Uint8Array], void, undefined> {
    for (const { session } of this.#sessions.values()) yield [sessionKey(session.sessionId), packValue(session)];
    for (const record of this.#dedup.records()) yield [dedupKey(record.clientId, record.seq), packValue(record)];
    yield [CLOCK_KEY, packValue(this.#clockMs)];
    yield [APPLIED_KEY, packValue(this.#appliedIndex)];
  }

  #install(state: {
    sessions: readonly (readonly [Session, bigint])[];
    dedup: readonly (readonly [DedupRecord, bigint])[];
    clockMs: number;
    appliedIndex: LogIndex;
  }): void {
    this.#sessions.clear();
    this.#sessionHash.reset();
    this.#dedup.clear();
    const byId = state.sessions.slice().sort((a, b) => compareStrings(a[0].sessionId, b[0].sessionId));
    const grouped = new Map<string, string[]>();
    for (const [session, hash] of byId) {
      if (this.#sessions.has(session.sessionId)) throw new Error(`install: session ${session.sessionId} present twice`);
      this.#sessions.set(session.sessionId, { session, hash, dataBytes: -1, packed: undefined });
      this.#sessionHash.add(hash);
      const ids = grouped.get(session.clientId);
      if (ids === undefined) grouped.set(session.clientId, [session.sessionId]);
      else ids.push(session.sessionId);
    }
    this.#byClient = new Map();
    for (const [clientId, ids] of grouped) this.#byClient.set(clientId, SortedList.fromSorted(ids, compareStrings));
    this.#byExpiry = new ExpiryIndex();
    for (const [session] of byId) this.#byExpiry.add(session);
    const dedup = state.dedup.slice().sort((a, b) => logPosition(a[0]) - logPosition(b[0]));
    for (const [record, hash] of dedup) this.#dedup.install(record, hash);
    this.#clockMs = state.clockMs;
    this.#appliedIndex = state.appliedIndex;
  }

  /** Cross-checks the indexes, digests and counts against the sessions (tests, debugging). */
  checkInvariants(): void {
    this.#byExpiry.checkInvariants();
    if (this.#byExpiry.size !== this.#sessions.size) {
      throw new Error(`expiry index holds ${this.#byExpiry.size} sessions, the map ${this.#sessions.size}`);
    }
    let indexed = 0;
    for (const [clientId, ids] of this.#byClient) {
      ids.checkInvariants();
      if (ids.size === 0) throw new Error(`client index of ${clientId} is empty but present`);
      for (const id of ids.values()) {
        if (this.#sessions.get(id)?.session.clientId !== clientId) throw new Error(`client index of ${clientId} holds ${id}, which is not theirs`);
      }
      indexed += ids.size;
    }
    if (indexed !== this.#sessions.size) throw new Error(`client index holds ${indexed} sessions, the map ${this.#sessions.size}`);
    const fresh = new SetHash();
    for (const { session, hash, dataBytes } of this.#sessions.values()) {
      if (!this.#byExpiry.has(session)) throw new Error(`expiry index lacks ${session.sessionId}`);
      const expected = sha256Big(packValue(session));
      if (hash !== expected) throw new Error(`session ${session.sessionId}: cached hash is out of date`);
      if (dataBytes !== -1 && dataBytes !== jsonBytes(session.data)) {
        throw new Error(`session ${session.sessionId}: cached data size ${dataBytes} is wrong`);
      }
      fresh.add(expected);
    }
    if (fresh.hex() !== this.#sessionHash.hex()) throw new Error('session set hash is out of date');
    this.#dedup.checkInvariants();
  }
}

// ---- checks of stored values: a failure here is corruption, not bad input ---------------------

function checkNumber(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`corrupt state at ${where}: expected a non-negative integer, got ${String(value)}`);
  }
  return value;
}

const SESSION_NUMBER_FIELDS = ['createdAtMs', 'updatedAtMs', 'lastActivityMs', 'ttlMs', 'maxLifetimeMs', 'version', 'expiresAtMs'] as const;

function checkStoredSession(value: unknown, where: string): Session {
  const s = value as Record<string, unknown> | null;
  if (s === null || typeof s !== 'object') throw new Error(`corrupt state at ${where}: not a session object`);
  for (const field of ['sessionId', 'clientId', 'transport'] as const) {
    if (typeof s[field] !== 'string') throw new Error(`corrupt state at ${where}: ${field} is not a string`);
  }
  for (const field of SESSION_NUMBER_FIELDS) checkNumber(s[field], `${where}.${field}`);
  if (s.data === null || typeof s.data !== 'object' || Array.isArray(s.data)) {
    throw new Error(`corrupt state at ${where}: data is not an object`);
  }
  const session = makeSession(s as unknown as Session);
  if (session.expiresAtMs !== s.expiresAtMs) {
    throw new Error(`corrupt state at ${where}: expiresAtMs ${String(s.expiresAtMs)} should be ${session.expiresAtMs}`);
  }
  return session;
}

function checkStoredResult(value: unknown, where: string): CommandResult {
  const r = value as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object' || typeof r.ok !== 'boolean') throw new Error(`corrupt state at ${where}: not a result`);
  if (!r.ok) {
    if (typeof r.code !== 'string' || typeof r.message !== 'string') throw new Error(`corrupt state at ${where}: bad error result`);
    return Object.freeze(r as unknown as CommandResult);
  }
  const fields: { session?: Session; deleted?: number } = {};
  if (r.session !== undefined) fields.session = checkStoredSession(r.session, `${where}.session`);
  if (r.deleted !== undefined) fields.deleted = checkNumber(r.deleted, `${where}.deleted`);
  return ok(fields);
}

function checkStoredDedup(value: unknown, where: string): DedupRecord {
  const r = value as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object' || typeof r.clientId !== 'string') {
    throw new Error(`corrupt state at ${where}: not a dedup record`);
  }
  return makeDedupRecord({
    clientId: r.clientId,
    seq: checkNumber(r.seq, `${where}.seq`),
    index: checkNumber(r.index, `${where}.index`) as LogIndex,
    ...(r.slot !== undefined ? { slot: checkNumber(r.slot, `${where}.slot`) } : {}),
    bytes: checkNumber(r.bytes, `${where}.bytes`),
    result: checkStoredResult(r.result, `${where}.result`),
  });
}
