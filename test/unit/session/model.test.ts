/**
 * Property test: random command sequences (seeded) against a naive reference model written
 * straight from the spec. Every result, every query, and the final digest after a snapshot
 * round trip and a reload from the ops must agree.
 */
import { describe, expect, it } from 'vitest';
import type { LogIndex } from '../../../src/raft/index.js';
import { prng, sortedPairs, uuid } from './helpers.js';
import {
  SessionStateMachine,
  encodeCommand,
  type ApplyEntry,
  type CommandResult,
  type JsonValue,
  type RequestId,
  type Session,
  type SessionCommand,
  type StampedCommand,
} from './imports.js';

const DEDUP_MAX = 20;
const DEDUP_PER_CLIENT_MAX = 8;
const OPTIONS = { dedupEntriesMax: DEDUP_MAX, dedupEntriesPerClientMax: DEDUP_PER_CLIENT_MAX };

/** The spec, written as plainly as possible: arrays and filters, no indexes. */
class Model {
  clock = 0;
  readonly sessions = new Map<string, Session>();
  dedup: { clientId: string; seq: number; result: CommandResult }[] = [];

  apply(s: StampedCommand): CommandResult {
    this.clock = Math.max(this.clock, s.nowMs);
    const rid = s.requestId;
    const seen = rid && this.dedup.find((d) => d.clientId === rid.clientId && d.seq === rid.seq);
    if (seen) return seen.result;
    const result = this.run(s.command);
    if (rid) {
      this.dedup.push({ clientId: rid.clientId, seq: rid.seq, result });
      while (this.dedup.filter((d) => d.clientId === rid.clientId).length > DEDUP_PER_CLIENT_MAX) {
        this.dedup.splice(this.dedup.findIndex((d) => d.clientId === rid.clientId), 1);
      }
      while (this.dedup.length > DEDUP_MAX) this.dedup.shift();
    }
    return result;
  }

  live(id: string): Session | undefined {
    const s = this.sessions.get(id);
    return s && this.clock < s.expiresAtMs ? s : undefined;
  }

  put(s: Omit<Session, 'expiresAtMs'>): Session {
    const idle = s.lastActivityMs + s.ttlMs;
    const expiresAtMs = s.maxLifetimeMs ? Math.min(idle, s.createdAtMs + s.maxLifetimeMs) : idle;
    const session = { ...s, expiresAtMs };
    this.sessions.set(s.sessionId, session);
    return session;
  }

  run(c: SessionCommand): CommandResult {
    const notFound = (id: string): CommandResult => ({ ok: false, code: 'notFound', message: `session ${id} not found (absent, deleted or expired)` });
    const t = this.clock;
    switch (c.type) {
      case 'create': {
        if (this.live(c.sessionId)) return { ok: false, code: 'alreadyExists', message: `session ${c.sessionId} already exists` };
        const { type: _type, ...fields } = c;
        return { ok: true, session: this.put({ ...fields, createdAtMs: t, updatedAtMs: t, lastActivityMs: t, version: 1 }) };
      }
      case 'update': {
        const s = this.live(c.sessionId);
        if (!s) return notFound(c.sessionId);
        if (c.expectedVersion && c.expectedVersion !== s.version) {
          return { ok: false, code: 'versionMismatch', message: `session ${c.sessionId} is at version ${s.version}, not the expected ${c.expectedVersion}` };
        }
        const data: Record<string, JsonValue> = { ...s.data };
        for (const [k, v] of Object.entries(c.merge)) {
          if (v === null) delete data[k];
          else data[k] = v;
        }
        const { expiresAtMs: _e, ...rest } = s;
        return { ok: true, session: this.put({ ...rest, data, version: s.version + 1, updatedAtMs: t, lastActivityMs: t, ttlMs: c.ttlMs || s.ttlMs }) };
      }
      case 'touch': {
        const s = this.live(c.sessionId);
        if (!s) return notFound(c.sessionId);
        const { expiresAtMs: _e, ...rest } = s;
        return { ok: true, session: this.put({ ...rest, version: s.version + 1, lastActivityMs: t }) };
      }
      case 'delete':
        if (!this.live(c.sessionId)) return notFound(c.sessionId);
        this.sessions.delete(c.sessionId);
        return { ok: true, deleted: 1 };
      case 'deleteByClient': {
        const mine = [...this.sessions.values()].filter((s) => s.clientId === c.clientId);
        for (const s of mine) this.sessions.delete(s.sessionId);
        return { ok: true, deleted: mine.filter((s) => t < s.expiresAtMs).length };
      }
      case 'expire': {
        let deleted = 0;
        for (const id of c.sessionIds) {
          const s = this.sessions.get(id);
          if (s && s.expiresAtMs <= t) {
            this.sessions.delete(id);
            deleted++;
          }
        }
        return { ok: true, deleted };
      }
    }
  }

  list(clientId: string, nowMs: number): Session[] {
    return [...this.sessions.values()]
      .filter((s) => s.clientId === clientId && nowMs < s.expiresAtMs)
      .sort((a, b) => (a.sessionId < b.sessionId ? -1 : 1));
  }

  due(nowMs: number): string[] {
    return [...this.sessions.values()]
      .filter((s) => s.expiresAtMs <= nowMs)
      .sort((a, b) => a.expiresAtMs - b.expiresAtMs || (a.sessionId < b.sessionId ? -1 : 1))
      .map((s) => s.sessionId);
  }
}

const IDS = Array.from({ length: 12 }, (_, i) => uuid(i + 1));
const CLIENTS = ['c0', 'c1', 'c2'];
const REQUEST_CLIENTS = ['sdk-a', 'sdk-b', 'sdk-c'];

function generator(seed: number) {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  let nowMs = 1_700_000_000_000;
  const seqs = new Map<string, number>();
  const sent: RequestId[] = [];
  const value = (): JsonValue => pick<() => JsonValue>([() => Math.floor(random() * 100), () => 'v', () => [1, 'x'], () => ({ k: random() < 0.5 })])();

  function command(model: Model): SessionCommand {
    const id = pick(IDS);
    switch (pick(['create', 'create', 'update', 'update', 'touch', 'touch', 'delete', 'deleteByClient', 'expire'] as const)) {
      case 'create':
        return {
          type: 'create',
          sessionId: id,
          clientId: pick(CLIENTS),
          transport: pick(['http', 'ws']),
          data: random() < 0.5 ? {} : { a: value(), b: value() },
          ttlMs: pick([1_000, 2_000, 5_000, 10_000]),
          maxLifetimeMs: pick([0, 0, 3_000, 8_000]),
        };
      case 'update': {
        const version = model.sessions.get(id)?.version ?? 1;
        return {
          type: 'update',
          sessionId: id,
          merge: { [pick(['a', 'b', 'c'])]: random() < 0.3 ? null : value() },
          expectedVersion: pick([0, 0, version, version + 1]),
          ttlMs: pick([0, 0, 1_000, 4_000]),
        };
      }
      case 'touch':
        return { type: 'touch', sessionId: id };
      case 'delete':
        return { type: 'delete', sessionId: id };
      case 'deleteByClient':
        return { type: 'deleteByClient', clientId: pick(CLIENTS) };
      case 'expire':
        return { type: 'expire', sessionIds: random() < 0.7 ? model.due(nowMs).slice(0, 5) : [pick(IDS), pick(IDS)] };
    }
  }

  function requestId(): RequestId | undefined {
    const r = random();
    if (r < 0.5) return undefined;
    if (r < 0.7 && sent.length > 0) return pick(sent.slice(-30)); // a retry, recent or older than the window
    const clientId = pick(REQUEST_CLIENTS);
    const seq = (seqs.get(clientId) ?? 0) + 1;
    seqs.set(clientId, seq);
    sent.push({ clientId, seq });
    return { clientId, seq };
  }

  return {
    random,
    pick,
    /**
     * The next stamp: usually forward, sometimes a slow leader's clock behind. Steps of 250 ms
     * (TTLs are whole seconds) so stamps land exactly on expiry boundaries often.
     */
    stamp(): number {
      const steps = Math.floor(random() * 6);
      nowMs += random() < 0.15 ? -steps * 750 : steps * 250;
      return nowMs;
    },
    stamped(model: Model): StampedCommand {
      const nowMsStamp = this.stamp();
      const rid = requestId();
      const cmd = command(model);
      return rid ? { command: cmd, nowMs: nowMsStamp, requestId: rid } : { command: cmd, nowMs: nowMsStamp };
    },
  };
}

function checkQueries(sm: SessionStateMachine, model: Model, nowMs: number, pageSize: number): void {
  for (const id of IDS) {
    const s = model.sessions.get(id);
    expect(sm.get(id, nowMs)).toEqual(s && nowMs < s.expiresAtMs ? s : undefined);
  }
  let total = 0;
  for (const clientId of CLIENTS) {
    const expected = model.list(clientId, nowMs);
    const pages: Session[] = [];
    let cursor = '';
    for (let guard = 0; guard < 50; guard++) {
      const page = sm.listByClient(clientId, nowMs, cursor, pageSize);
      pages.push(...page);
      if (page.length < pageSize) break;
      cursor = page[page.length - 1]!.sessionId;
    }
    expect(pages).toEqual(expected);
    expect(sm.count(nowMs, clientId)).toBe(expected.length);
    total += expected.length;
  }
  expect(sm.count(nowMs)).toBe(total);
  expect(sm.dueForExpiry(nowMs, 4)).toEqual(model.due(nowMs).slice(0, 4));
}

async function runSeed(seed: number, steps: number): Promise<void> {
  const gen = generator(seed);
  const model = new Model();
  const sm = new SessionStateMachine(OPTIONS);
  const store = new Map<string, Uint8Array>();
  let index = 0;
  for (let step = 0; step < steps; ) {
    const batch: ApplyEntry[] = [];
    const expected = new Map<number, CommandResult>();
    const size = 1 + Math.floor(gen.random() * 5);
    for (let i = 0; i < size; i++, step++) {
      index++;
      const r = gen.random();
      if (r < 0.05) {
        batch.push({ index: index as LogIndex, data: new Uint8Array(0) }); // leader no-op
      } else if (r < 0.08) {
        batch.push({ index: index as LogIndex, data: Uint8Array.of(0x93, 0xff, 0x00) }); // garbage
        expected.set(index, { ok: false, code: 'invalid', message: '' });
      } else {
        // Commands in one batch see the model's state as of the previous ones, as apply does.
        const stamped = gen.stamped(model);
        batch.push({ index: index as LogIndex, data: encodeCommand(stamped) });
        expected.set(index, model.apply(stamped));
      }
    }
    const { results, ops } = sm.applyEntries(batch);
    for (const op of ops) {
      if (op.type === 'put') store.set(op.key, op.value);
      else store.delete(op.key);
    }
    expect(results.map((r) => r.index)).toEqual([...expected.keys()]);
    for (const { index: at, result } of results) {
      const want = expected.get(at)!;
      if (!want.ok && want.code === 'invalid' && want.message === '') expect(result).toMatchObject({ ok: false, code: 'invalid' });
      else expect(result, `seed ${seed} index ${at}`).toEqual(want);
    }
    expect(sm.clockMs).toBe(model.clock);
    if (gen.random() < 0.2) checkQueries(sm, model, model.clock + gen.pick([-2_000, -1, 0, 1, 1_000, 5_000]), gen.pick([1, 2, 3, 10]));
    if (gen.random() < 0.05) sm.checkInvariants();
  }
  sm.checkInvariants();
  expect(sm.sessionCount).toBe(model.sessions.size);
  expect(sm.dedupEntryCount).toBe(model.dedup.length);

  const copied = new SessionStateMachine(OPTIONS);
  await copied.load(sm.stateEntries());
  expect(copied.digest()).toBe(sm.digest());
  const loaded = new SessionStateMachine(OPTIONS);
  await loaded.load(sortedPairs(store));
  expect(loaded.digest()).toBe(sm.digest());
  loaded.checkInvariants();
  checkQueries(loaded, model, model.clock, 3);
}

describe('the state machine against a reference model', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}: 400 random entries agree on every result and query`, async () => {
      await runSeed(seed, 400);
    });
  }
});
