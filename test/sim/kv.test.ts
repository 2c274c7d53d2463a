import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/raft/index.js';
import { encodeConfChange, logIndex, nodeId, term } from '../../src/raft/index.js';
import { KvStateMachine, decodeCommand, encodeCommand } from './kv.js';

const conf = { voters: [nodeId(1), nodeId(2), nodeId(3)], learners: [] };
const put = (index: number, key: string, value: string): Entry => ({
  index: logIndex(index),
  term: term(1),
  type: 'normal',
  data: encodeCommand({ op: 'put', key, value, id: `i${index}` }),
});
const del = (index: number, key: string): Entry => ({
  index: logIndex(index),
  term: term(1),
  type: 'normal',
  data: encodeCommand({ op: 'del', key, id: `i${index}` }),
});
const noop = (index: number): Entry => ({ index: logIndex(index), term: term(1), type: 'normal', data: new Uint8Array(0) });

describe('KvStateMachine', () => {
  it('applies puts, deletes, no-ops and conf changes in order', () => {
    const sm = new KvStateMachine(conf);
    sm.apply(noop(1));
    sm.apply(put(2, 'a', 'x'));
    sm.apply(put(3, 'b', 'y'));
    sm.apply(del(4, 'a'));
    sm.apply({ index: logIndex(5), term: term(2), type: 'confChange', data: encodeConfChange({ type: 'addLearner', node: nodeId(4) }) });
    expect(sm.get('a')).toBeUndefined();
    expect(sm.get('b')).toBe('y');
    expect(sm.appliedIndex).toBe(5);
    expect(sm.appliedTerm).toBe(2);
    expect(sm.confState.learners).toEqual([4]);
    expect(() => sm.apply(put(7, 'c', 'z'))).toThrow(/out of order/);
  });

  it('fingerprints contents independently of the order of writes', () => {
    const a = new KvStateMachine(conf);
    const b = new KvStateMachine(conf);
    a.apply(put(1, 'a', 'x'));
    a.apply(put(2, 'b', 'y'));
    b.apply(put(1, 'b', 'y'));
    b.apply(put(2, 'a', 'x'));
    expect(a.stateHash()).toBe(b.stateHash());
    b.apply(put(3, 'a', 'z'));
    a.apply(put(3, 'a', 'x'));
    expect(a.stateHash()).not.toBe(b.stateHash());
  });

  it('restores a snapshot to the same state', () => {
    const a = new KvStateMachine(conf);
    a.apply(put(1, 'a', 'x'));
    a.apply(put(2, 'b', 'y'));
    const data = a.snapshotData();
    const b = new KvStateMachine(conf);
    b.restore(data, { index: logIndex(2), term: term(1), confState: conf });
    expect(b.stateHash()).toBe(a.stateHash());
    expect(b.get('b')).toBe('y');
    expect(() => b.restore(data, { index: logIndex(3), term: term(1), confState: conf })).toThrow(/meta says 3/);
  });

  it('round-trips commands and rejects garbage', () => {
    const c = { op: 'put', key: 'k', value: 'v', id: '1' } as const;
    expect(decodeCommand(encodeCommand(c))).toEqual(c);
    expect(() => decodeCommand(new TextEncoder().encode('{"op":"x"}'))).toThrow(/not a kv command/);
  });
});
