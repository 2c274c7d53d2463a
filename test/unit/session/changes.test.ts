/**
 * The changes applyEntries() reports (what watchers are told): one per session changed, in apply
 * order, numbered by position within their entry, none for a failed command or a remembered answer.
 */
import { describe, expect, it } from 'vitest';
import type { LogIndex } from '../../../src/raft/index.js';
import { HOUR, T0, entry, uuid } from './helpers.js';
import { SessionStateMachine, encodeBatch, encodeBatchItem, type SessionChange, type SessionCommand } from './imports.js';

const create = (n: number, clientId = 'alice', ttlMs = HOUR): SessionCommand => ({
  type: 'create',
  sessionId: uuid(n),
  clientId,
  transport: 'http',
  data: { n },
  ttlMs,
  maxLifetimeMs: 0,
});

/** [index, position, slot, type, session id] of each change: the part a watcher resumes by. */
const brief = (changes: readonly SessionChange[]): [number, number, number, string, string][] =>
  changes.map((c) => [c.index, c.position, c.slot, c.type, c.session.sessionId]);

describe('changes reported by applyEntries', () => {
  it('reports created, updated, touched and deleted with the session after the change (the last version for a delete)', () => {
    const sm = new SessionStateMachine();
    const out = sm.applyEntries([
      entry(1, create(1), T0),
      entry(2, { type: 'update', sessionId: uuid(1), merge: { a: 1 }, expectedVersion: 0, ttlMs: 0 }, T0 + 1),
      entry(3, { type: 'touch', sessionId: uuid(1) }, T0 + 2),
      entry(4, { type: 'delete', sessionId: uuid(1) }, T0 + 3),
    ]);
    expect(brief(out.changes)).toEqual([
      [1, 0, 0, 'created', uuid(1)],
      [2, 0, 0, 'updated', uuid(1)],
      [3, 0, 0, 'touched', uuid(1)],
      [4, 0, 0, 'deleted', uuid(1)],
    ]);
    expect(out.changes.map((c) => c.session.version)).toEqual([1, 2, 3, 3]);
    expect(out.changes[1]!.session.data).toEqual({ n: 1, a: 1 });
    // Each carries its data's JSON size, the one a watch ring counts.
    for (const c of out.changes) expect(c.dataBytes).toBe(Buffer.byteLength(JSON.stringify(c.session.data)));
    expect(out.changes.map((c) => c.dataBytes)).toEqual([7, 13, 13, 13]);
    expect(out.changes[2]!.session.lastActivityMs).toBe(T0 + 2);
  });

  it('numbers the changes of one batch entry by position and names each command slot', () => {
    const sm = new SessionStateMachine();
    sm.applyEntries([entry(1, create(1, 'bob'), T0), entry(2, create(2, 'bob'), T0)]);
    const items = [
      encodeBatchItem({ command: create(3) }),
      encodeBatchItem({ command: { type: 'touch', sessionId: uuid(99) } }), // notFound: no change
      encodeBatchItem({ command: { type: 'deleteByClient', clientId: 'bob' } }),
      encodeBatchItem({ command: create(4) }),
    ];
    const out = sm.applyEntries([{ index: 3 as LogIndex, data: encodeBatch(T0 + 1, items) }]);
    expect(brief(out.changes)).toEqual([
      [3, 0, 0, 'created', uuid(3)],
      [3, 1, 2, 'deleted', uuid(1)],
      [3, 2, 2, 'deleted', uuid(2)],
      [3, 3, 3, 'created', uuid(4)],
    ]);
  });

  it('reports expired for the sweep, and for an expired session a deleteByClient or a create of its id removes', () => {
    const sm = new SessionStateMachine();
    sm.applyEntries([entry(1, create(1, 'a', 1_000), T0), entry(2, create(2, 'b', 1_000), T0), entry(3, create(3, 'b', HOUR), T0)]);
    const out = sm.applyEntries([
      entry(4, { type: 'expire', sessionIds: [uuid(1), uuid(3)] }, T0 + 1_000), // 3 is not due: stays
      entry(5, { type: 'deleteByClient', clientId: 'b' }, T0 + 1_001),
      entry(6, create(7, 'c', 1_000), T0 + 1_002),
      entry(7, create(7, 'd'), T0 + 2_002),
    ]);
    expect(brief(out.changes)).toEqual([
      [4, 0, 0, 'expired', uuid(1)],
      [5, 0, 0, 'expired', uuid(2)],
      [5, 1, 0, 'deleted', uuid(3)],
      [6, 0, 0, 'created', uuid(7)],
      [7, 0, 0, 'expired', uuid(7)],
      [7, 1, 0, 'created', uuid(7)],
    ]);
    expect(out.changes[4]!.session.clientId).toBe('c');
    expect(out.changes[5]!.session.clientId).toBe('d');
  });

  it('reports nothing for a failed command, a remembered answer or an entry applied before', () => {
    const sm = new SessionStateMachine();
    const requestId = { clientId: 'sdk', seq: 1 };
    const first = sm.applyEntries([entry(1, create(1), T0, requestId)]);
    expect(first.changes).toHaveLength(1);
    const again = sm.applyEntries([
      entry(1, create(1), T0), // at or below applied: skipped
      entry(2, create(1), T0 + 1, requestId), // the same request: answered from the dedup table
      entry(3, create(1), T0 + 2), // alreadyExists
      entry(4, { type: 'update', sessionId: uuid(1), merge: {}, expectedVersion: 9, ttlMs: 0 }, T0 + 3), // versionMismatch
      { index: 5 as LogIndex, data: new Uint8Array() }, // the leader's no-op
    ]);
    expect(again.changes).toEqual([]);
  });

  it('reports the same changes on two replicas that apply the same entries in different chunks', () => {
    const entries = [entry(1, create(1), T0), entry(2, create(2), T0), entry(3, { type: 'deleteByClient', clientId: 'alice' }, T0 + 1)];
    const whole = new SessionStateMachine().applyEntries(entries).changes;
    const replica = new SessionStateMachine();
    const chunked = [...replica.applyEntries(entries.slice(0, 1)).changes, ...replica.applyEntries(entries.slice(1)).changes];
    expect(chunked).toEqual(whole);
  });
});
