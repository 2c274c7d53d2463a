import { describe, expect, it } from 'vitest';
import { ExpiryIndex } from '../../../src/session/expiry-index.js';
import type { Session } from '../../../src/session/index.js';
import { prng, uuid } from './helpers.js';

function at(n: number, expiresAtMs: number, clientId = 'c'): Session {
  return Object.freeze({
    sessionId: uuid(n),
    clientId,
    transport: 'http',
    createdAtMs: 0,
    updatedAtMs: 0,
    lastActivityMs: 0,
    data: {},
    ttlMs: expiresAtMs,
    maxLifetimeMs: 0,
    version: 1,
    expiresAtMs,
  });
}

describe('ExpiryIndex', () => {
  it('counts and lists the sessions due, soonest first and by id within a time, by identity', () => {
    const index = new ExpiryIndex();
    const s = [at(5, 200), at(3, 100), at(9, 100), at(1, 300), at(2, 100)];
    for (const session of s) expect(index.add(session)).toBe(true);
    expect(index.add(s[0]!)).toBe(false);
    // Another object with the same id and time is another version: held apart (the caller removes the old one).
    expect(index.has({ ...s[0]! })).toBe(false);
    expect(index.size).toBe(5);
    expect(index.countDue(99)).toBe(0);
    expect(index.countDue(100)).toBe(3);
    expect(index.countDue(250)).toBe(4);
    expect(index.dueIds(1_000, 10)).toEqual([uuid(2), uuid(3), uuid(9), uuid(5), uuid(1)]);
    expect(index.dueIds(1_000, 2)).toEqual([uuid(2), uuid(3)]);
    expect(index.dueIds(150, 10)).toEqual([uuid(2), uuid(3), uuid(9)]);
    expect(new Set([...index.due(200)].map((x) => x.sessionId))).toEqual(new Set([uuid(2), uuid(3), uuid(9), uuid(5)]));
    expect(index.delete(s[2]!)).toBe(true);
    expect(index.delete(s[2]!)).toBe(false);
    expect(index.delete(at(3, 100))).toBe(false);
    expect(index.countDue(100)).toBe(2);
    index.checkInvariants();
  });

  it('agrees with a sorted model through random adds and deletes', () => {
    const random = prng(7);
    const index = new ExpiryIndex();
    const held = new Map<number, Session>();
    for (let step = 0; step < 5_000; step++) {
      const n = 1 + Math.floor(random() * 300);
      const current = held.get(n);
      if (current !== undefined) {
        expect(index.delete(current)).toBe(true);
        held.delete(n);
      }
      if (random() < 0.6) {
        const session = at(n, 1_000 + Math.floor(random() * 40) * 10);
        expect(index.add(session)).toBe(true);
        held.set(n, session);
      }
      if (step % 500 === 0) {
        index.checkInvariants();
        const nowMs = 1_000 + Math.floor(random() * 400);
        const model = [...held.values()]
          .filter((x) => x.expiresAtMs <= nowMs)
          .sort((a, b) => a.expiresAtMs - b.expiresAtMs || (a.sessionId < b.sessionId ? -1 : 1));
        expect(index.countDue(nowMs)).toBe(model.length);
        expect(index.dueIds(nowMs, 50)).toEqual(model.slice(0, 50).map((x) => x.sessionId));
      }
    }
    expect(index.size).toBe(held.size);
  });
});
