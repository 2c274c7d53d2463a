/**
 * A dedup record's stored bytes copy in its session's packed row instead of packing the session
 * again (encodeDedupRecord). They must be exactly packValue(record): a replica that restarts
 * hashes what it loads, and its digest must equal the one of a replica that never stopped.
 */
import { describe, expect, it } from 'vitest';
import { packValue } from '../../../src/session/codec.js';
import { encodeDedupRecord } from '../../../src/session/dedup.js';
import type { DedupRecord, JsonValue, Session } from './imports.js';
import { Driver, HOUR, T0, prng, sortedPairs, uuid } from './helpers.js';

/** JSON data of every kind the encoder treats differently: short and long strings, non-ASCII, integers and floats of every width, nesting. */
function randomData(random: () => number): { [key: string]: JsonValue } {
  const values: (() => JsonValue)[] = [
    () => 'x'.repeat(Math.floor(random() * 300)),
    () => 'é∑😀'.repeat(Math.floor(random() * 40)),
    () => Math.floor(random() * 2 ** 53) * (random() < 0.5 ? -1 : 1),
    () => Math.floor(random() * 300) - 150,
    () => random() * 1e6,
    () => random() < 0.5,
    () => null,
    () => [1, 'two', { three: [3] }],
    () => ({ nested: { deeper: 'y'.repeat(Math.floor(random() * 70)) } }),
  ];
  const data: { [key: string]: JsonValue } = {};
  const keys = Math.floor(random() * 20);
  for (let i = 0; i < keys; i++) data[`k${i}${'_'.repeat(Math.floor(random() * 40))}`] = values[Math.floor(random() * values.length)]!();
  return data;
}

describe('dedup records', () => {
  it('are stored as exactly packValue(record) when the session row is copied in, through creates, updates and touches', () => {
    const random = prng(7);
    const d = new Driver();
    let seq = 0;
    for (let n = 1; n <= 300; n++) {
      const requestId = { clientId: 'sdk-1', seq: ++seq };
      const r = random();
      if (n < 20 || r < 0.5) {
        d.apply({ type: 'create', sessionId: uuid(n), clientId: `u${n % 7}`, transport: 'http', data: randomData(random), ttlMs: HOUR, maxLifetimeMs: 0 }, T0 + n, requestId);
      } else if (r < 0.8) {
        d.apply({ type: 'update', sessionId: uuid(1 + Math.floor(random() * 19)), merge: randomData(random), expectedVersion: 0, ttlMs: 0 }, T0 + n, requestId);
      } else {
        d.apply({ type: 'touch', sessionId: uuid(1 + Math.floor(random() * 19)) }, T0 + n, requestId);
      }
    }
    const stored = sortedPairs(d.store).filter(([key]) => key.startsWith('d/'));
    expect(stored.length).toBeGreaterThan(200);
    const repacked = new Map([...d.sm.stateEntries()].filter(([key]) => key.startsWith('d/')));
    for (const [key, bytes] of stored) expect(Buffer.from(bytes).equals(Buffer.from(repacked.get(key)!)), key).toBe(true);

    const reloaded = new Driver();
    return reloaded.sm.load(sortedPairs(d.store)).then(() => expect(reloaded.sm.digest()).toBe(d.sm.digest()));
  });

  it('fall back to packing the whole record when the session is not its last value', () => {
    const session = { sessionId: uuid(1), clientId: 'c', transport: 'http', data: { a: 1 } } as unknown as Session;
    const reordered = { result: { ok: true, session }, clientId: 'c', seq: 1, index: 5, bytes: 100 } as unknown as DedupRecord;
    const wrongBytes = Uint8Array.of(0xc0);
    expect(Buffer.from(encodeDedupRecord(reordered, wrongBytes)).equals(Buffer.from(packValue(reordered)))).toBe(true);
    const plain = { clientId: 'c', seq: 1, index: 5, bytes: 100, result: { ok: true, session } } as unknown as DedupRecord;
    expect(Buffer.from(encodeDedupRecord(plain, packValue(session))).equals(Buffer.from(packValue(plain)))).toBe(true);
  });
});
