/**
 * A dedup record's stored bytes copy in its session's packed row instead of packing the session
 * again (encodeDedupRecord). They must be exactly packValue(record): a replica that restarts
 * hashes what it loads, and its digest must equal the one of a replica that never stopped.
 */
import { describe, expect, it } from 'vitest';
import { packValue } from '../../../src/session/codec.js';
import { encodeDedupRecord, makeDedupRecord } from '../../../src/session/dedup.js';
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

  it('are made in one key order, whatever order the fields come in, since the stored bytes depend on it', () => {
    const session = { sessionId: uuid(1), clientId: 'c', transport: 'http', data: { a: 1 } } as unknown as Session;
    const reordered = { result: { ok: true, session }, bytes: 100, clientId: 'c', index: 5, seq: 1 } as unknown as DedupRecord;
    const record = makeDedupRecord(reordered);
    expect(Object.keys(record)).toEqual(['clientId', 'seq', 'index', 'bytes', 'result']);
    expect(Object.keys(makeDedupRecord({ ...reordered, slot: 3 }))).toEqual(['clientId', 'seq', 'index', 'slot', 'bytes', 'result']);
    expect(Buffer.from(encodeDedupRecord(record, packValue(session))).equals(Buffer.from(packValue(record)))).toBe(true);
  });

  it('writes the record around a session by hand exactly as packValue would, for every width of every field', () => {
    const random = prng(11);
    const widths = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER];
    const pick = <T,>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    const d = new Driver();
    const session = (d.create(1, T0, { data: randomData(random) }) as { session: Session }).session;
    const sessionBytes = packValue(session);
    let byHand = 0;
    for (let i = 0; i < 2_000; i++) {
      const clientId = pick(['a', 'sdk-1', 'x'.repeat(31), 'y'.repeat(32), `sdk-${uuid(i)}`, 'z'.repeat(128), 'w'.repeat(255), 'v'.repeat(256), 'é'.repeat(20)]);
      const record: DedupRecord = makeDedupRecord({
        clientId,
        seq: pick(widths),
        index: pick(widths) as DedupRecord['index'],
        ...(random() < 0.5 ? { slot: pick(widths) } : {}),
        bytes: pick(widths),
        result: random() < 0.9 ? Object.freeze({ ok: true as const, session }) : Object.freeze({ ok: false as const, code: 'notFound' as const, message: 'gone' }),
      });
      const encoded = encodeDedupRecord(record, sessionBytes);
      expect(Buffer.from(encoded).equals(Buffer.from(packValue(record))), JSON.stringify({ ...record, result: record.result.ok })).toBe(true);
      if (record.result.ok && clientId.length <= 255 && !clientId.includes('é') && [record.seq, record.index, record.bytes, record.slot ?? 0].every((n) => n < 2 ** 32)) byHand++;
    }
    expect(byHand).toBeGreaterThan(100); // the hand-written path was taken, not only the fallback
  });
});

