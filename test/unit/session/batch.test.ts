/** Batch entries: the writes of one leader loop turn in one log entry, each with its own result. */
import { describe, expect, it } from 'vitest';
import type { LogIndex } from '../../../src/raft/index.js';
import { SessionStateMachine, encodeBatch, encodeBatchItem, type SessionCommand } from '../../../src/session/index.js';
import { packValue, unpackValue } from '../../../src/session/codec.js';
import { HOUR, T0, uuid } from './helpers.js';

const create = (n: number): SessionCommand => ({ type: 'create', sessionId: uuid(n), clientId: 'a', transport: 'http', data: { n }, ttlMs: HOUR, maxLifetimeMs: 0 });
const at = (index: number, data: Uint8Array) => ({ index: index as LogIndex, type: 'normal' as const, data });

describe('encodeBatch', () => {
  it('gives the bytes msgpack gives for the whole entry, for 1, 15, 16 and 70,000 items', () => {
    for (const count of [1, 15, 16, 70_000]) {
      const items = Array.from({ length: count }, (_, i) => ({ command: create(i % 50), ...(i % 3 === 0 ? { requestId: { clientId: 'c', seq: i + 1 } } : {}) }));
      const joined = encodeBatch(T0, items.map(encodeBatchItem));
      expect(Buffer.from(joined).equals(Buffer.from(packValue({ nowMs: T0, batch: items }))), `${count} items`).toBe(true);
      expect((unpackValue(joined) as { batch: unknown[] }).batch).toHaveLength(count);
    }
  });
});

describe('applying a batch entry', () => {
  it('answers each item in its slot, with one stamp, and remembers each request id', () => {
    const sm = new SessionStateMachine();
    const items = [
      encodeBatchItem({ command: create(1), requestId: { clientId: 'c', seq: 1 } }),
      encodeBatchItem({ command: { type: 'touch', sessionId: uuid(9) } }),
      encodeBatchItem({ command: create(1) }),
      encodeBatchItem({ command: create(2), requestId: { clientId: 'c', seq: 1 } }),
    ];
    const { results } = sm.applyEntries([at(1, encodeBatch(T0, items))]);
    expect(results.map((r) => [r.index, r.slot, r.result.ok ? 'ok' : r.result.code])).toEqual([
      [1, 0, 'ok'],
      [1, 1, 'notFound'],
      [1, 2, 'alreadyExists'],
      [1, 3, 'ok'], // the same request id again: the first answer, not a second create
    ]);
    expect(results[3]!.result).toEqual(results[0]!.result);
    expect(sm.get(uuid(2), T0)).toBeUndefined();
    expect(sm.rememberedAnswer({ clientId: 'c', seq: 1 })).toMatchObject({ index: 1 });
    expect(sm.clockMs).toBe(T0);
  });

  it('a bad item is invalid in its slot only; a malformed batch is one invalid result', () => {
    const sm = new SessionStateMachine();
    const good = encodeBatchItem({ command: create(1) });
    const bad = packValue({ command: { type: 'drop' } });
    const { results } = sm.applyEntries([at(1, encodeBatch(T0, [bad, good])), at(2, packValue({ nowMs: T0, batch: 'nope' }))]);
    expect(results.map((r) => [r.index, r.slot, r.result.ok ? 'ok' : r.result.code])).toEqual([
      [1, 0, 'invalid'],
      [1, 1, 'ok'],
      [2, undefined, 'invalid'],
    ]);
  });

  it('replicas that load the state written by batch entries agree, and evict request ids in the same order', async () => {
    const sm = new SessionStateMachine({ dedupEntriesPerClientMax: 3 });
    const items = Array.from({ length: 5 }, (_, i) => encodeBatchItem({ command: create(i), requestId: { clientId: 'c', seq: i + 1 } }));
    sm.applyEntries([at(1, encodeBatch(T0, items.slice(0, 2))), at(2, encodeBatch(T0 + 1, items.slice(2)))]);
    const copy = new SessionStateMachine({ dedupEntriesPerClientMax: 3 });
    await copy.load([...sm.stateEntries()]);
    expect(copy.digest()).toBe(sm.digest());
    // Seq 1 and 2 were evicted (oldest first): the others are remembered on both.
    for (const machine of [sm, copy]) {
      expect([1, 2, 3, 4, 5].map((seq) => machine.rememberedAnswer({ clientId: 'c', seq }) !== undefined)).toEqual([false, false, true, true, true]);
    }
    const more = encodeBatchItem({ command: create(7), requestId: { clientId: 'c', seq: 6 } });
    sm.applyEntries([at(3, encodeBatch(T0 + 2, [more]))]);
    copy.applyEntries([at(3, encodeBatch(T0 + 2, [more]))]);
    expect(copy.digest()).toBe(sm.digest());
  });
});
