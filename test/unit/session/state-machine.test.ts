import { describe, expect, it } from 'vitest';
import type { LogIndex } from '../../../src/raft/index.js';
import { Driver, HOUR, T0, entry, prng, sortedPairs, uuid } from './helpers.js';
import {
  CLOCK_KEY,
  SessionStateMachine,
  decodeCommand,
  encodeCommand,
  type CommandResult,
  type Session,
} from './imports.js';

function session(result: CommandResult): Session {
  if (!result.ok || result.session === undefined) throw new Error(`expected a session, got ${JSON.stringify(result)}`);
  return result.session;
}

function errorCode(result: CommandResult): string {
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result.code;
}

describe('create', () => {
  it('creates a session stamped with the clock', () => {
    const d = new Driver();
    const s = session(d.create(1, T0, { clientId: 'bob', transport: 'sse', data: { cart: [1, 2] }, ttlMs: 60_000 }));
    expect(s).toEqual({
      sessionId: uuid(1),
      clientId: 'bob',
      transport: 'sse',
      createdAtMs: T0,
      updatedAtMs: T0,
      lastActivityMs: T0,
      data: { cart: [1, 2] },
      ttlMs: 60_000,
      maxLifetimeMs: 0,
      version: 1,
      expiresAtMs: T0 + 60_000,
    });
    expect(d.sm.get(uuid(1), T0)).toEqual(s);
    expect(Object.isFrozen(s)).toBe(true);
    expect(d.sm.count(T0)).toBe(1);
  });

  it('rejects a duplicate live id as alreadyExists and leaves the first session alone', () => {
    const d = new Driver();
    d.create(1, T0, { data: { a: 1 } });
    const again = d.create(1, T0 + 1, { data: { a: 2 } });
    expect(errorCode(again)).toBe('alreadyExists');
    expect(again.ok ? '' : again.message).toBe(`session ${uuid(1)} already exists`);
    expect(d.sm.get(uuid(1), T0 + 1)?.data).toEqual({ a: 1 });
  });

  it('replaces an expired but not yet swept session with the same id', () => {
    const d = new Driver();
    d.create(1, T0, { ttlMs: 1_000, clientId: 'old' });
    const s = session(d.create(1, T0 + 1_000, { clientId: 'new' }));
    expect(s.clientId).toBe('new');
    expect(d.sm.listByClient('old', T0, '', 10)).toEqual([]);
    expect(d.sm.listByClient('new', T0 + 1_000, '', 10)).toEqual([s]);
    d.sm.checkInvariants();
  });

  it('answers invalid (not a crash) for a malformed command', () => {
    const d = new Driver();
    const r = d.apply({ type: 'create', sessionId: 'no.pe', clientId: 'a', transport: 'http', data: {}, ttlMs: HOUR, maxLifetimeMs: 0 }, T0);
    expect(errorCode(r)).toBe('invalid');
    expect(r.ok ? '' : r.message).toMatch(/^sessionId: /);
    expect(d.sm.sessionCount).toBe(0);
  });

  it("takes a create's data size from the entry (the proposer measured it) and checks only its kind and range", () => {
    // The size is what the change and the dedup estimate carry: an honest proposer's number
    // equals the measured one; apply() takes the number without walking the data again.
    const measured = new Driver();
    const carried = new Driver();
    const data = { cart: [1, 2], note: 'é' };
    const bytes = Buffer.byteLength(JSON.stringify(data));
    const a = measured.sm.applyEntries([entry(1, { type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'http', data, ttlMs: HOUR, maxLifetimeMs: 0 }, T0)]);
    const b = carried.sm.applyEntries([entry(1, { type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'http', data, ttlMs: HOUR, maxLifetimeMs: 0, dataBytes: bytes }, T0)]);
    expect(a.changes[0]!.dataBytes).toBe(bytes);
    expect(b.changes[0]!.dataBytes).toBe(bytes);
    expect(carried.sm.digest()).toBe(measured.sm.digest());
    // A number the entry carries is what counts (deterministic on every replica): it is not re-measured.
    const trusted = new Driver().sm.applyEntries([entry(1, { type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'http', data, ttlMs: HOUR, maxLifetimeMs: 0, dataBytes: 999 }, T0)]);
    expect(trusted.changes[0]!.dataBytes).toBe(999);
    // Out of range, not an integer, or data that is not an object: invalid, nothing stored.
    for (const [dataBytes, bad, message] of [
      [1, data, /^dataBytes: 1 is outside \[2, 65536\]/],
      [65_537, data, /^dataBytes: 65537 is outside/],
      ['12', data, /^dataBytes: must be an integer/],
      [12, [1, 2], /^data: must be a JSON object/],
    ] as const) {
      const d = new Driver();
      const r = d.apply({ type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'http', data: bad as never, ttlMs: HOUR, maxLifetimeMs: 0, dataBytes: dataBytes as number }, T0);
      expect(errorCode(r)).toBe('invalid');
      expect(r.ok ? '' : r.message).toMatch(message);
      expect(d.sm.sessionCount).toBe(0);
    }
  });

  it('does not apply the default TTL inside apply (0 is invalid in the log)', () => {
    const d = new Driver();
    expect(errorCode(d.create(1, T0, { ttlMs: 0 }))).toBe('invalid');
    // The proposer fills it in:
    const cmd = d.sm.validateCommand({ type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'http', data: {}, ttlMs: 0 });
    expect(cmd).toMatchObject({ ttlMs: 3_600_000, maxLifetimeMs: 0 });
  });
});

describe('update', () => {
  it('merges key by key, null removes, nested values are replaced whole', () => {
    const d = new Driver();
    d.create(1, T0, { data: { a: 1, b: { x: 1, y: 2 }, c: 'keep' } });
    const s = session(d.apply({ type: 'update', sessionId: uuid(1), merge: { a: null, b: { x: 9 }, d: [1] }, expectedVersion: 0, ttlMs: 0 }, T0 + 5));
    expect(s.data).toEqual({ b: { x: 9 }, c: 'keep', d: [1] });
    expect(Object.keys(s.data)).toEqual(['b', 'c', 'd']);
    expect(s.version).toBe(2);
    expect(s.updatedAtMs).toBe(T0 + 5);
    expect(s.lastActivityMs).toBe(T0 + 5);
    expect(s.createdAtMs).toBe(T0);
    expect(s.expiresAtMs).toBe(T0 + 5 + HOUR);
  });

  it('checks expectedVersion', () => {
    const d = new Driver();
    d.create(1, T0);
    const bad = d.apply({ type: 'update', sessionId: uuid(1), merge: { a: 1 }, expectedVersion: 2, ttlMs: 0 }, T0 + 1);
    expect(errorCode(bad)).toBe('versionMismatch');
    expect(bad.ok ? '' : bad.message).toContain('version 1');
    expect(d.sm.get(uuid(1), T0 + 1)?.data).toEqual({});
    const good = session(d.apply({ type: 'update', sessionId: uuid(1), merge: { a: 1 }, expectedVersion: 1, ttlMs: 0 }, T0 + 2));
    expect(good.version).toBe(2);
  });

  it('changes the TTL when asked and keeps it on 0', () => {
    const d = new Driver();
    d.create(1, T0, { ttlMs: 10_000 });
    const kept = session(d.apply({ type: 'update', sessionId: uuid(1), merge: {}, expectedVersion: 0, ttlMs: 0 }, T0 + 1));
    expect(kept.ttlMs).toBe(10_000);
    const changed = session(d.apply({ type: 'update', sessionId: uuid(1), merge: {}, expectedVersion: 0, ttlMs: 20_000 }, T0 + 2));
    expect(changed.ttlMs).toBe(20_000);
    expect(changed.expiresAtMs).toBe(T0 + 2 + 20_000);
  });

  it('rejects a merge that makes data too large, naming the field', () => {
    const d = new Driver({ dataBytesMax: 1_000 });
    d.create(1, T0, { data: { a: 'x'.repeat(600) } });
    const r = d.apply({ type: 'update', sessionId: uuid(1), merge: { b: 'y'.repeat(600) }, expectedVersion: 0, ttlMs: 0 }, T0 + 1);
    expect(errorCode(r)).toBe('invalid');
    expect(r.ok ? '' : r.message).toMatch(/^data: \d+ bytes after the merge exceeds the limit of 1000$/);
    expect(d.sm.get(uuid(1), T0 + 1)?.version).toBe(1);
  });

  it('is notFound for an absent session', () => {
    const d = new Driver();
    expect(errorCode(d.apply({ type: 'update', sessionId: uuid(9), merge: {}, expectedVersion: 0, ttlMs: 0 }, T0))).toBe('notFound');
  });
});

describe('touch, delete, deleteByClient', () => {
  it('touch bumps version and lastActivity, slides expiry, keeps updatedAt', () => {
    const d = new Driver();
    d.create(1, T0, { ttlMs: 10_000 });
    const s = session(d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + 7_000));
    expect(s).toMatchObject({ version: 2, lastActivityMs: T0 + 7_000, updatedAtMs: T0, expiresAtMs: T0 + 17_000 });
    expect(errorCode(d.apply({ type: 'touch', sessionId: uuid(2) }, T0))).toBe('notFound');
  });

  it('delete removes once, then notFound', () => {
    const d = new Driver();
    d.create(1, T0);
    expect(d.apply({ type: 'delete', sessionId: uuid(1) }, T0 + 1)).toEqual({ ok: true, deleted: 1 });
    expect(d.sm.get(uuid(1), T0 + 1)).toBeUndefined();
    expect(errorCode(d.apply({ type: 'delete', sessionId: uuid(1) }, T0 + 2))).toBe('notFound');
    expect(d.store.has(`s/${uuid(1)}`)).toBe(false);
  });

  it('deleteByClient removes all of one client and counts the live ones', () => {
    const d = new Driver();
    d.create(1, T0, { clientId: 'a' });
    d.create(2, T0, { clientId: 'a', ttlMs: 1_000 });
    d.create(3, T0, { clientId: 'a' });
    d.create(4, T0, { clientId: 'b' });
    const r = d.apply({ type: 'deleteByClient', clientId: 'a' }, T0 + 5_000);
    expect(r).toEqual({ ok: true, deleted: 2 }); // session 2 had already expired
    expect(d.sm.sessionCount).toBe(1);
    expect(d.sm.count(T0 + 5_000, 'a')).toBe(0);
    expect(d.sm.count(T0 + 5_000, 'b')).toBe(1);
    expect(d.apply({ type: 'deleteByClient', clientId: 'nobody' }, T0 + 6_000)).toEqual({ ok: true, deleted: 0 });
    d.sm.checkInvariants();
  });
});

describe('expiry', () => {
  it('sliding TTL: alive strictly before lastActivity + ttl, gone at it', () => {
    const d = new Driver();
    d.create(1, T0, { ttlMs: 10_000 });
    expect(d.sm.get(uuid(1), T0 + 9_999)).toBeDefined();
    expect(d.sm.get(uuid(1), T0 + 10_000)).toBeUndefined();
    expect(d.sm.dueForExpiry(T0 + 9_999, 10)).toEqual([]);
    expect(d.sm.dueForExpiry(T0 + 10_000, 10)).toEqual([uuid(1)]);
  });

  it('every command treats a session past expiry as absent before the sweep', () => {
    const d = new Driver();
    d.create(1, T0, { ttlMs: 10_000 });
    d.create(2, T0, { ttlMs: HOUR });
    // The clock reaches the expiry through another command's stamp.
    d.apply({ type: 'touch', sessionId: uuid(2) }, T0 + 10_000);
    expect(errorCode(d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + 10_000))).toBe('notFound');
    expect(errorCode(d.apply({ type: 'update', sessionId: uuid(1), merge: {}, expectedVersion: 0, ttlMs: 0 }, T0))).toBe('notFound');
    expect(errorCode(d.apply({ type: 'delete', sessionId: uuid(1) }, T0))).toBe('notFound');
    expect(d.sm.sessionCount).toBe(2); // still held until the sweeper's expire
    expect(d.sm.count(T0 + 10_000)).toBe(1);
    expect(d.sm.listByClient('alice', T0 + 10_000, '', 10).map((s) => s.sessionId)).toEqual([uuid(2)]);
  });

  it('absolute lifetime caps a sliding TTL', () => {
    const d = new Driver();
    const s = session(d.create(1, T0, { ttlMs: 10_000, maxLifetimeMs: 25_000 }));
    expect(s.expiresAtMs).toBe(T0 + 10_000);
    expect(session(d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + 9_000)).expiresAtMs).toBe(T0 + 19_000);
    expect(session(d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + 18_000)).expiresAtMs).toBe(T0 + 25_000);
    expect(d.sm.get(uuid(1), T0 + 24_999)).toBeDefined();
    expect(d.sm.get(uuid(1), T0 + 25_000)).toBeUndefined();
    expect(errorCode(d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + 25_000))).toBe('notFound');
  });

  it('a maxLifetime shorter than the TTL decides alone', () => {
    const d = new Driver();
    expect(session(d.create(1, T0, { ttlMs: HOUR, maxLifetimeMs: 5_000 })).expiresAtMs).toBe(T0 + 5_000);
  });

  it('expire removes only sessions still due: a touch that raced in wins', () => {
    const d = new Driver();
    d.create(1, T0, { ttlMs: 10_000 });
    d.create(2, T0, { ttlMs: 10_000 });
    const due = d.sm.dueForExpiry(T0 + 10_000, 10);
    expect(due).toEqual([uuid(1), uuid(2)]);
    // The touch was stamped just before the expiry point and committed before the sweep.
    d.apply({ type: 'touch', sessionId: uuid(2) }, T0 + 9_999);
    const r = d.apply({ type: 'expire', sessionIds: due }, T0 + 10_000);
    expect(r).toEqual({ ok: true, deleted: 1 });
    expect(d.sm.get(uuid(2), T0 + 10_000)).toBeDefined();
    expect(d.sm.sessionCount).toBe(1);
  });

  it('expire with a stamp before the expiry removes nothing; ids listed twice count once', () => {
    const d = new Driver();
    d.create(1, T0, { ttlMs: 10_000 });
    expect(d.apply({ type: 'expire', sessionIds: [uuid(1)] }, T0 + 9_000)).toEqual({ ok: true, deleted: 0 });
    expect(d.apply({ type: 'expire', sessionIds: [uuid(1), uuid(1), uuid(7)] }, T0 + 10_000)).toEqual({ ok: true, deleted: 1 });
  });

  it('dueForExpiry is soonest first and limited', () => {
    const d = new Driver();
    d.create(1, T0, { ttlMs: 30_000 });
    d.create(2, T0, { ttlMs: 10_000 });
    d.create(3, T0, { ttlMs: 20_000 });
    expect(d.sm.dueForExpiry(T0 + HOUR, 2)).toEqual([uuid(2), uuid(3)]);
    expect(d.sm.dueForExpiry(T0 + HOUR, 0)).toEqual([]);
  });
});

describe('clock', () => {
  it('never goes back: a late stamp from a new leader does not rewind time', () => {
    const d = new Driver();
    d.create(1, T0 + 10_000, { ttlMs: 10_000 });
    const s = session(d.apply({ type: 'touch', sessionId: uuid(1) }, T0)); // stamped by a leader with a slow clock
    expect(s.lastActivityMs).toBe(T0 + 10_000);
    expect(s.expiresAtMs).toBe(T0 + 20_000);
    expect(d.sm.clockMs).toBe(T0 + 10_000);
    const created = session(d.create(2, T0 - 5_000));
    expect(created.createdAtMs).toBe(T0 + 10_000);
  });

  it('the stamp drives expiry decisions, not any wall clock', () => {
    const d = new Driver();
    d.create(1, T0, { ttlMs: 10_000 });
    // A touch stamped after expiry finds nothing even though nothing was swept.
    expect(errorCode(d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + 10_000))).toBe('notFound');
    expect(d.store.has(CLOCK_KEY)).toBe(true);
  });
});

describe('exactly-once', () => {
  const rid = (seq: number, clientId = 'sdk-1') => ({ clientId, seq });

  it('a retry gets the first answer and is not applied again', () => {
    const d = new Driver();
    d.create(1, T0);
    const first = d.apply({ type: 'update', sessionId: uuid(1), merge: { n: 1 }, expectedVersion: 0, ttlMs: 0 }, T0 + 1, rid(1));
    const retry = d.apply({ type: 'update', sessionId: uuid(1), merge: { n: 1 }, expectedVersion: 0, ttlMs: 0 }, T0 + 2, rid(1));
    expect(retry).toEqual(first);
    expect(d.sm.get(uuid(1), T0 + 2)?.version).toBe(2);
    // A different seq is a new request.
    d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + 3, rid(2));
    expect(d.sm.get(uuid(1), T0 + 3)?.version).toBe(3);
    // The same seq from another client is another request too.
    d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + 4, rid(1, 'sdk-2'));
    expect(d.sm.get(uuid(1), T0 + 4)?.version).toBe(4);
  });

  it('remembers errors too (a retried create answers as the first did)', () => {
    const d = new Driver();
    const cmd = { type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'http', data: {}, ttlMs: HOUR, maxLifetimeMs: 0 } as const;
    const first = d.apply(cmd, T0, rid(7));
    expect(first.ok).toBe(true);
    expect(d.apply(cmd, T0 + 1, rid(7))).toEqual(first); // not 'already exists'
    expect(errorCode(d.apply(cmd, T0 + 2, rid(8)))).toBe('alreadyExists');
    const miss = d.apply({ type: 'delete', sessionId: uuid(5) }, T0, rid(9));
    d.create(5, T0 + 3);
    expect(d.apply({ type: 'delete', sessionId: uuid(5) }, T0 + 4, rid(9))).toEqual(miss);
    expect(d.sm.get(uuid(5), T0 + 4)).toBeDefined();
  });

  it('is bounded: the oldest entries are evicted by log index, and ops delete them', () => {
    const d = new Driver({ dedupEntriesMax: 3 });
    d.create(1, T0);
    for (let seq = 1; seq <= 5; seq++) d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + seq, rid(seq));
    expect(d.sm.dedupEntryCount).toBe(3);
    expect([...d.store.keys()].filter((k) => k.startsWith('d/')).sort()).toEqual(['d/sdk-1/3', 'd/sdk-1/4', 'd/sdk-1/5']);
    // seq 5 is remembered, seq 1 was evicted: its retry is applied again (documented window).
    d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + 10, rid(5));
    expect(d.sm.get(uuid(1), T0 + 10)?.version).toBe(6);
    d.apply({ type: 'touch', sessionId: uuid(1) }, T0 + 11, rid(1));
    expect(d.sm.get(uuid(1), T0 + 11)?.version).toBe(7);
  });

  it('keeps a window per request client, so one busy client cannot flush the others', () => {
    const d = new Driver({ dedupEntriesPerClientMax: 2 });
    d.create(1, T0);
    d.apply({ type: 'touch', sessionId: uuid(1) }, T0, rid(1, 'quiet'));
    for (let seq = 1; seq <= 10; seq++) d.apply({ type: 'touch', sessionId: uuid(1) }, T0, rid(seq, 'busy'));
    expect(d.sm.dedupEntryCount).toBe(3);
    const version = d.sm.get(uuid(1), T0)!.version;
    d.apply({ type: 'touch', sessionId: uuid(1) }, T0, rid(1, 'quiet'));
    d.apply({ type: 'touch', sessionId: uuid(1) }, T0, rid(10, 'busy'));
    expect(d.sm.get(uuid(1), T0)!.version).toBe(version);
  });

  it('is bounded in bytes, keeping the newest', () => {
    const d = new Driver({ dedupBytesMax: 4_096 });
    const big = { blob: 'x'.repeat(1_500) };
    for (let n = 1; n <= 5; n++) d.apply({ type: 'create', sessionId: uuid(n), clientId: 'a', transport: 'http', data: big, ttlMs: HOUR, maxLifetimeMs: 0 }, T0, rid(n));
    expect(d.sm.dedupEntryCount).toBe(2);
    expect([...d.store.keys()].filter((k) => k.startsWith('d/')).sort()).toEqual(['d/sdk-1/4', 'd/sdk-1/5']);
    d.sm.checkInvariants();
  });

  it('a garbage request id makes the entry invalid and is not remembered', () => {
    const d = new Driver();
    const r = d.apply({ type: 'touch', sessionId: uuid(1) }, T0, { clientId: '', seq: 1 });
    expect(errorCode(r)).toBe('invalid');
    expect(r.ok ? '' : r.message).toMatch(/^requestId\.clientId: /);
    expect(d.sm.dedupEntryCount).toBe(0);
  });
});

describe('entries', () => {
  it('garbage bytes answer invalid, the same on every replica, and change nothing', () => {
    const garbage = [Uint8Array.of(0xc1), Uint8Array.of(0x92, 0x01), Uint8Array.of(1, 2, 3), new TextEncoder().encode('{"json":true}'), encodeCommand({ command: { type: 'create' } as never, nowMs: T0 })];
    const a = new Driver();
    const b = new Driver();
    a.create(1, T0);
    b.create(1, T0);
    const before = a.sm.digest();
    for (const bytes of garbage) {
      const ra = a.applyBytes(bytes);
      const rb = b.applyBytes(bytes);
      expect(errorCode(ra)).toBe('invalid');
      expect(ra).toEqual(rb);
    }
    expect(a.sm.digest()).toBe(before);
    expect(b.sm.digest()).toBe(before);
  });

  it('fuzzed bytes (random and bit-flipped commands) never throw and keep replicas equal', () => {
    const random = prng(42);
    const a = new Driver({ dedupEntriesMax: 50 });
    const b = new Driver({ dedupEntriesMax: 50 });
    const valid = [
      entry(1, { type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'http', data: { k: [1, { x: 'y' }] }, ttlMs: HOUR, maxLifetimeMs: 0 }, T0, { clientId: 'sdk', seq: 1 }).data,
      entry(1, { type: 'update', sessionId: uuid(1), merge: { k: null, z: 2 }, expectedVersion: 0, ttlMs: 0 }, T0 + 1).data,
      entry(1, { type: 'expire', sessionIds: [uuid(1), uuid(2)] }, T0 + 2).data,
    ];
    for (let i = 0; i < 600; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = Uint8Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 256));
      } else {
        bytes = Uint8Array.from(valid[i % valid.length]!);
        for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) {
          const at = Math.floor(random() * bytes.length);
          bytes[at] = bytes[at]! ^ (1 << Math.floor(random() * 8));
        }
      }
      expect(a.applyBytes(bytes)).toEqual(b.applyBytes(bytes));
    }
    expect(a.sm.digest()).toBe(b.sm.digest());
    a.sm.checkInvariants();
  });

  it('a stamp out of range is invalid and does not move the clock', () => {
    const d = new Driver();
    const r = d.apply({ type: 'touch', sessionId: uuid(1) }, -5);
    expect(r.ok ? '' : r.message).toMatch(/^nowMs: /);
    expect(d.sm.clockMs).toBe(0);
  });

  it('no-ops and conf changes yield no result but advance the applied index; re-delivered entries are skipped', () => {
    const sm = new SessionStateMachine();
    const out = sm.applyEntries([
      { index: 1 as LogIndex, data: new Uint8Array(0) },
      { index: 2 as LogIndex, data: Uint8Array.of(1, 2), type: 'confChange' },
      entry(4, { type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'http', data: {}, ttlMs: HOUR, maxLifetimeMs: 0 }, T0),
    ]);
    expect(out.results.map((r) => r.index)).toEqual([4]);
    expect(sm.appliedIndex).toBe(4);
    const again = sm.applyEntries([entry(4, { type: 'delete', sessionId: uuid(1) }, T0)]);
    expect(again).toEqual({ results: [], ops: [], changes: [] });
    expect(sm.sessionCount).toBe(1);
  });

  it('ops coalesce per batch: one put per key', () => {
    const sm = new SessionStateMachine();
    const { ops } = sm.applyEntries([
      entry(1, { type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'http', data: {}, ttlMs: HOUR, maxLifetimeMs: 0 }, T0),
      entry(2, { type: 'touch', sessionId: uuid(1) }, T0 + 1),
      entry(3, { type: 'create', sessionId: uuid(2), clientId: 'a', transport: 'http', data: {}, ttlMs: HOUR, maxLifetimeMs: 0 }, T0 + 2),
      entry(4, { type: 'delete', sessionId: uuid(2) }, T0 + 3),
    ]);
    expect(ops.map((o) => `${o.type} ${o.key}`)).toEqual([`put s/${uuid(1)}`, 'put m/clock', 'put m/applied']);
  });

  it('encodeCommand / decodeCommand round-trip and decode validates', () => {
    const stamped = { command: { type: 'touch', sessionId: uuid(3) } as const, nowMs: T0, requestId: { clientId: 'c', seq: 4 } };
    expect(decodeCommand(encodeCommand(stamped))).toEqual(stamped);
    expect(() => decodeCommand(encodeCommand({ command: { type: 'rename' } as never, nowMs: T0 }))).toThrow(/^command\.type: /);
    expect(() => decodeCommand(Uint8Array.of(0xc1))).toThrow(/^entry: /);
    expect(() => decodeCommand(Uint8Array.of(0x92))).toThrow(/^entry: /);
  });
});

describe('queries', () => {
  it('listByClient pages in sessionId order after a cursor, skipping expired ones', () => {
    const d = new Driver();
    for (const n of [5, 3, 9, 1, 7]) d.create(n, T0, { ttlMs: n === 7 ? 1_000 : HOUR });
    d.create(2, T0, { clientId: 'other' });
    const now = T0 + 2_000;
    const page1 = d.sm.listByClient('alice', now, '', 2).map((s) => s.sessionId);
    expect(page1).toEqual([uuid(1), uuid(3)]);
    const page2 = d.sm.listByClient('alice', now, page1[1]!, 2).map((s) => s.sessionId);
    expect(page2).toEqual([uuid(5), uuid(9)]);
    expect(d.sm.listByClient('alice', now, uuid(9), 2)).toEqual([]);
    expect(d.sm.listByClient('alice', now, uuid(4), 10).map((s) => s.sessionId)).toEqual([uuid(5), uuid(9)]);
    expect(d.sm.listByClient('nobody', now, '', 10)).toEqual([]);
    expect(d.sm.count(now)).toBe(5);
    expect(d.sm.count(now, 'alice')).toBe(4);
    expect(d.sm.count(T0, 'alice')).toBe(5);
    expect(d.sm.count(now, 'other')).toBe(1);
  });
});

describe('replicas, snapshots and load', () => {
  function script(d: Driver): void {
    for (let n = 1; n <= 30; n++) d.create(n, T0 + n, { clientId: `c${n % 4}`, data: { n, tags: ['x', n] }, ttlMs: 5_000 + n * 100, maxLifetimeMs: n % 3 === 0 ? 60_000 : 0 });
    for (let n = 1; n <= 30; n += 3) d.apply({ type: 'update', sessionId: uuid(n), merge: { m: n * 2, n: null }, expectedVersion: 0, ttlMs: 0 }, T0 + 100 + n, { clientId: 'sdk', seq: n });
    d.apply({ type: 'deleteByClient', clientId: 'c1' }, T0 + 200);
    d.apply({ type: 'expire', sessionIds: d.sm.dueForExpiry(T0 + 8_000, 100) }, T0 + 8_000);
  }

  it('two replicas fed the same entries have equal digests and byte-equal state pairs', () => {
    const a = new Driver();
    const b = new Driver();
    script(a);
    script(b);
    expect(a.sm.digest()).toMatch(/^[0-9a-f]{64}$/);
    expect(a.sm.digest()).toBe(b.sm.digest());
    expect(pairsHex(a.sm)).toEqual(pairsHex(b.sm));
    const c = new Driver();
    script(c);
    c.apply({ type: 'touch', sessionId: uuid(2) }, T0 + 8_001);
    expect(c.sm.digest()).not.toBe(a.sm.digest());
  });

  it('the digest changes with every kind of state: sessions, dedup, clock', () => {
    const d = new Driver();
    const seen = new Set([d.sm.digest()]);
    d.create(1, T0);
    seen.add(d.sm.digest());
    d.apply({ type: 'touch', sessionId: uuid(2) }, T0, { clientId: 'x', seq: 1 }); // notFound, remembered
    seen.add(d.sm.digest());
    d.apply({ type: 'touch', sessionId: uuid(2) }, T0 + 1); // only the clock moves
    seen.add(d.sm.digest());
    expect(seen.size).toBe(4);
  });

  it('stateEntries → load gives an equal digest, equal queries and equal behaviour after', async () => {
    const a = new Driver({ dedupEntriesMax: 5 });
    script(a);
    const b = new Driver({ dedupEntriesMax: 5 });
    await b.sm.load(a.sm.stateEntries());
    b.index = a.index;
    expect(b.sm.digest()).toBe(a.sm.digest());
    expect(b.sm.appliedIndex).toBe(a.sm.appliedIndex);
    expect(b.sm.clockMs).toBe(a.sm.clockMs);
    expect(b.sm.listByClient('c2', T0, '', 100)).toEqual(a.sm.listByClient('c2', T0, '', 100));
    b.sm.checkInvariants();
    for (const d of [a, b]) {
      d.apply({ type: 'update', sessionId: uuid(28), merge: { z: 1 }, expectedVersion: 0, ttlMs: 0 }, T0 + 300, { clientId: 'sdk', seq: 28 });
      d.apply({ type: 'touch', sessionId: uuid(30) }, T0 + 301, { clientId: 'sdk', seq: 99 });
    }
    expect(b.sm.digest()).toBe(a.sm.digest());
    expect(pairsHex(b.sm)).toEqual(pairsHex(a.sm));
  });

  it('load refuses a foreign value under a session key and keeps the state', async () => {
    const d = new Driver();
    d.create(1, T0);
    const before = d.sm.digest();
    const [key] = [...d.sm.stateEntries()].find(([k]) => k.includes(uuid(1)))!;
    const foreign = encodeCommand({ command: { type: 'touch', sessionId: uuid(1) }, nowMs: T0 });
    await expect(d.sm.load([[key, foreign]])).rejects.toThrow();
    expect(d.sm.digest()).toBe(before);
  });

  it('load from the ops written so far gives an equal digest and state', async () => {
    const a = new Driver({ dedupEntriesMax: 5 });
    script(a);
    const b = new SessionStateMachine({ dedupEntriesMax: 5 });
    async function* pairs() {
      yield* sortedPairs(a.store);
    }
    await b.load(pairs());
    expect(b.digest()).toBe(a.sm.digest());
    expect(b.appliedIndex).toBe(a.sm.appliedIndex);
    expect(pairsHex(b)).toEqual(pairsHex(a.sm));
    b.checkInvariants();
    // The stored pairs equal what stateEntries() would write after a restore.
    const hex = (pairs: [string, Uint8Array][]) => pairs.map(([k, v]) => `${k}=${Buffer.from(v).toString('hex')}`);
    expect(hex(sortedPairs(new Map(a.sm.stateEntries())))).toEqual(hex(sortedPairs(a.store)));
  });

  it('load rejects an unknown key', async () => {
    const sm = new SessionStateMachine();
    await expect(sm.load([['x/1', Uint8Array.of(0)]])).rejects.toThrow(/unknown state key/);
  });
});

describe('sharedSettings', () => {
  it('names every option apply() depends on, and only those', () => {
    const base = new SessionStateMachine();
    expect(base.sharedSettings).toBe('entryFormat=2,dataBytesMax=65536,dedupEntriesMax=100000,dedupEntriesPerClientMax=1000,dedupBytesMax=67108864');
    expect(new SessionStateMachine({ defaultTtlMs: 60_000 }).sharedSettings).toBe(base.sharedSettings);
    expect(new SessionStateMachine({ dataBytesMax: 1024 }).sharedSettings).not.toBe(base.sharedSettings);
    expect(new SessionStateMachine({ dedupEntriesPerClientMax: 5 }).sharedSettings).not.toBe(base.sharedSettings);
  });
});

/** The state's pairs, sorted by key, values in hex: byte-equal states give equal arrays. */
function pairsHex(sm: SessionStateMachine): string[] {
  return sortedPairs(new Map(sm.stateEntries())).map(([k, v]) => `${k}=${Buffer.from(v).toString('hex')}`);
}
