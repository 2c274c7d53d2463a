import { describe, expect, it } from 'vitest';
import { History, LogicalClock, type RecordedOp } from './history.js';
import { checkHistory, toRegisterOperation, withoutUnreadUnknownPuts } from './linearizability.js';

describe('History', () => {
  it('records call and return instants on one strictly increasing clock', () => {
    const h = new History(new LogicalClock());
    const a = h.begin(0, { op: 'put', key: 'k', value: 'v' }, 1);
    const b = h.begin(1, { op: 'get', key: 'k' }, 1);
    h.ok(a, { done: true }, 2);
    h.ok(b, { value: 'v' }, 3);
    expect(a.call).toBeLessThan(b.call);
    expect(b.call).toBeLessThan(a.return);
    expect(a.return).toBeLessThan(b.return);
    expect([a.callTick, a.returnTick, b.returnTick]).toEqual([1, 2, 3]);
  });

  it('keeps completed operations and unknown writes; drops failed ones and unknown reads', () => {
    const h = new History(new LogicalClock());
    const ok = h.begin(0, { op: 'put', key: 'k', value: '1' }, 0);
    h.ok(ok, { done: true }, 1);
    const lostWrite = h.begin(0, { op: 'del', key: 'k' }, 1);
    h.unknown(lostWrite);
    const refused = h.begin(1, { op: 'put', key: 'k', value: '2' }, 1);
    h.failed(refused);
    const lostRead = h.begin(2, { op: 'get', key: 'k' }, 1);
    h.unknown(lostRead);
    const pending = h.begin(3, { op: 'put', key: 'k', value: '3' }, 2);
    h.closeAll();
    expect(h.checkable().map((op) => op.id)).toEqual([ok.id, lostWrite.id, pending.id]);
    expect(pending.status).toBe('unknown');
    expect(pending.return).toBe(Infinity);
    expect(h.counts()).toEqual({ pending: 0, ok: 1, unknown: 3, failed: 1 });
  });

  it('refuses to settle an operation twice', () => {
    const h = new History(new LogicalClock());
    const op = h.begin(0, { op: 'get', key: 'k' }, 0);
    h.failed(op);
    expect(() => h.ok(op, { value: null }, 1)).toThrow(/settled twice/);
  });
});

/** A tiny scripted history: each step is [clientId, input, output | 'unknown', callTime, returnTime]. */
function script(steps: [number, RecordedOp['input'], RecordedOp['output'] | 'unknown', number, number][]): RecordedOp[] {
  return steps.map(([clientId, input, output, call, ret], id) => ({
    id,
    clientId,
    input,
    call,
    callTick: call,
    output: output === 'unknown' ? undefined : output,
    return: output === 'unknown' ? Infinity : ret,
    returnTick: ret,
    status: output === 'unknown' ? 'unknown' : 'ok',
  }));
}

describe('linearizability bridge', () => {
  it('maps puts, deletes and gets onto the per-key register', () => {
    const [put, del, get, absent] = script([
      [0, { op: 'put', key: 'a', value: 'x' }, { done: true }, 1, 2],
      [0, { op: 'del', key: 'a' }, 'unknown', 3, 0],
      [1, { op: 'get', key: 'a' }, { value: 'x' }, 4, 5],
      [1, { op: 'get', key: 'a' }, { value: null }, 6, 7],
    ]) as [RecordedOp, RecordedOp, RecordedOp, RecordedOp];
    expect(toRegisterOperation(put).input).toEqual({ key: 'a', op: 'write', value: 'x' });
    expect(toRegisterOperation(del)).toMatchObject({ input: { op: 'delete' }, output: { status: 'unknown' }, return: Infinity });
    expect(toRegisterOperation(get).output).toEqual({ status: 'ok', value: 'x' });
    expect(toRegisterOperation(absent).output).toEqual({ status: 'ok', value: undefined });
  });

  it('accepts a linearizable history', () => {
    const ops = script([
      [0, { op: 'put', key: 'a', value: 'x' }, { done: true }, 1, 4],
      [1, { op: 'get', key: 'a' }, { value: 'x' }, 2, 5],
      [2, { op: 'get', key: 'b' }, { value: null }, 3, 6],
      [1, { op: 'put', key: 'a', value: 'y' }, 'unknown', 7, 0],
      [2, { op: 'get', key: 'a' }, { value: 'y' }, 8, 9],
    ]);
    expect(checkHistory(ops, { timeoutMs: 2000 }).verdict).toBe('ok');
  });

  it('rejects a stale read after an acknowledged write', () => {
    const ops = script([
      [0, { op: 'put', key: 'a', value: 'x' }, { done: true }, 1, 2],
      [0, { op: 'put', key: 'a', value: 'y' }, { done: true }, 3, 4],
      [1, { op: 'get', key: 'a' }, { value: 'x' }, 5, 6],
    ]);
    const outcome = checkHistory(ops, { timeoutMs: 2000 });
    expect(outcome.verdict).toBe('illegal');
    expect(outcome.explanation).toContain('not linearizable');
  });

  it('rejects a read of a value nobody wrote', () => {
    const ops = script([[1, { op: 'get', key: 'a' }, { value: 'ghost' }, 1, 2]]);
    expect(checkHistory(ops, { timeoutMs: 2000 }).verdict).toBe('illegal');
  });

  it('drops unknown puts that no read observed, and only those', () => {
    const ops = script([
      [0, { op: 'put', key: 'a', value: 'seen' }, 'unknown', 1, 0],
      [0, { op: 'put', key: 'a', value: 'unseen' }, 'unknown', 2, 0],
      [0, { op: 'del', key: 'a' }, 'unknown', 3, 0],
      [1, { op: 'get', key: 'a' }, { value: 'seen' }, 4, 5],
    ]);
    expect(withoutUnreadUnknownPuts(ops).map((op) => op.id)).toEqual([0, 2, 3]);
  });
});
