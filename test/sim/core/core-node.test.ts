/**
 * The pieces of the core simulation's driver that are not the core: the applied-log fingerprint
 * (its state machine), the view of the stored log's terms (the invariant checker's), which must
 * follow the log store's rules, and the committed values reads are answered from.
 */
import { describe, expect, it } from 'vitest';
import type { Entry, LogIndex, SnapshotMeta } from '../../../src/raft/index.js';
import { encodeConfChange, logIndex, nodeId, term } from '../../../src/raft/index.js';
import { createMemoryStorage, type LogUpdate } from '../../../src/storage/index.js';
import { Prng } from '../prng.js';
import { AppliedLog, StoredLogTerms } from './core-node.js';
import { CommittedValues, encodeCommand } from './workload.js';

const conf = { voters: [nodeId(1), nodeId(2), nodeId(3)], learners: [] };
const entry = (index: number, t: number, data = `d${index}`): Entry => ({ index: logIndex(index), term: term(t), type: 'normal', data: new TextEncoder().encode(data) });
const put = (index: number, key: string, value: string): Entry => ({ index: logIndex(index), term: term(1), type: 'normal', data: encodeCommand({ op: 'put', key, value, id: `i${index}` }) });
const del = (index: number, key: string): Entry => ({ index: logIndex(index), term: term(1), type: 'normal', data: encodeCommand({ op: 'del', key, id: `i${index}` }) });
const meta = (index: number, t: number): SnapshotMeta => ({ index: logIndex(index), term: term(t), confState: conf });

describe('AppliedLog', () => {
  it('fingerprints the applied entries in order: same entries, same hash; any difference shows', () => {
    const a = new AppliedLog(logIndex(0), term(0), conf);
    const b = new AppliedLog(logIndex(0), term(0), conf);
    for (const e of [entry(1, 1), entry(2, 1, 'x')]) a.apply(e);
    for (const e of [entry(1, 1), entry(2, 1, 'x')]) b.apply(e);
    expect(a.hash).toBe(b.hash);
    const c = new AppliedLog(logIndex(0), term(0), conf);
    for (const e of [entry(1, 1), entry(2, 2, 'x')]) c.apply(e);
    expect(c.hash).not.toBe(a.hash);
    const d = new AppliedLog(logIndex(0), term(0), conf);
    for (const e of [entry(1, 1, 'x'), entry(2, 1)]) d.apply(e);
    expect(d.hash).not.toBe(a.hash);
  });

  it('refuses entries out of order and tracks the configuration', () => {
    const a = new AppliedLog(logIndex(0), term(0), conf);
    expect(() => a.apply(entry(2, 1))).toThrow(/out of order/);
    a.apply({ index: logIndex(1), term: term(2), type: 'confChange', data: encodeConfChange({ type: 'addLearner', node: nodeId(4) }) });
    expect(a.confState.learners).toEqual([4]);
    expect([a.index, a.term]).toEqual([1, 2]);
  });

  it('round-trips through its encoding (a snapshot or the state store) and checks the meta', () => {
    const a = new AppliedLog(logIndex(0), term(0), conf);
    a.apply(entry(1, 1));
    a.apply(entry(2, 1));
    const b = AppliedLog.decode(a.encode(), meta(2, 1));
    expect(b.hash).toBe(a.hash);
    b.apply(entry(3, 1));
    a.apply(entry(3, 1));
    expect(b.hash).toBe(a.hash);
    expect(() => AppliedLog.decode(a.encode(), meta(2, 1))).toThrow(/meta says 2/);
  });
});

describe('StoredLogTerms', () => {
  it('replaces a conflicting suffix, keeps the suffix after a matching snapshot, drops the log after another', () => {
    const view = new StoredLogTerms();
    view.save({ entries: [entry(1, 1), entry(2, 1), entry(3, 1)] });
    view.save({ entries: [entry(2, 2)] });
    expect([view.lastIndex, view.termAt(2), view.termAt(3)]).toEqual([2, 2, undefined]);
    view.save({ entries: [entry(3, 2), entry(4, 2)] });
    view.save({ entries: [], snapshot: meta(3, 2) });
    expect([view.snapshotIndex, view.lastIndex, view.termAt(4)]).toEqual([3, 4, 2]);
    view.save({ entries: [], snapshot: meta(6, 3) });
    expect([view.snapshotIndex, view.lastIndex, view.termAt(6), view.termAt(4)]).toEqual([6, 6, 3, undefined]);
  });

  it('agrees with the log store it shadows over random saves, truncations, installs and compactions', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rng = new Prng(seed);
      const storage = createMemoryStorage();
      const view = new StoredLogTerms();
      let t = 1;
      for (let step = 0; step < 40; step++) {
        const last = view.lastIndex;
        const commit = view.hardState.commit;
        const r = rng.float();
        if (r < 0.15 && commit > view.snapshotIndex) {
          const at = rng.int(view.snapshotIndex + 1, commit);
          const m = { ...meta(at, view.termAt(at)!) };
          await storage.log.compact(m);
          view.compact(m);
          continue;
        }
        let update: LogUpdate;
        if (r < 0.2 && last > view.snapshotIndex) {
          // An install at an entry the log holds with the same term: the suffix after it stays.
          const at = rng.int(view.snapshotIndex + 1, last);
          update = { entries: [], snapshot: meta(at, view.termAt(at)!), hardState: { term: term(t), vote: nodeId(0), commit: logIndex(Math.max(commit, at)) } };
        } else if (r < 0.3) {
          t += 1;
          const at = last + rng.int(1, 5);
          update = { entries: [entry(at + 1, t)], snapshot: meta(at, t), hardState: { term: term(t), vote: nodeId(0), commit: logIndex(at) } };
        } else {
          if (rng.chance(0.3)) t += 1;
          const from = rng.int(Math.max(commit, view.snapshotIndex) + 1, last + 1);
          const entries = Array.from({ length: rng.int(1, 4) }, (_, k) => entry(from + k, t));
          const newLast = from + entries.length - 1;
          const newCommit = Math.min(newLast, commit + rng.int(0, 2)) as LogIndex;
          update = { entries, hardState: { term: term(t), vote: nodeId(0), commit: logIndex(Math.max(commit, newCommit)) } };
        }
        await storage.log.save(update);
        view.save(update);
      }
      const loaded = StoredLogTerms.loaded(await storage.log.load());
      expect(loaded.differences(view), `seed ${seed}`).toBe('');
    }
  });

  it('reports a drift', () => {
    const a = new StoredLogTerms();
    const b = new StoredLogTerms();
    a.save({ entries: [entry(1, 1)] });
    b.save({ entries: [entry(1, 2)] });
    expect(a.differences(b)).toMatch(/vs the store's/);
  });
});

describe('CommittedValues', () => {
  it('answers what a key holds at an index of the committed log', () => {
    const values = new CommittedValues();
    for (const e of [put(1, 'a', 'x'), put(2, 'b', 'y'), entry(3, 1, ''), del(4, 'a'), put(5, 'a', 'z')]) values.record(e);
    values.record(put(2, 'b', 'y')); // applied again elsewhere
    expect([values.valueAt('a', 0), values.valueAt('a', 1), values.valueAt('a', 3), values.valueAt('a', 4), values.valueAt('a', 5)]).toEqual([null, 'x', 'x', null, 'z']);
    expect(values.valueAt('b', 5)).toBe('y');
    expect(() => values.valueAt('a', 6)).toThrow(/beyond the applied log/);
    expect(() => values.record(put(7, 'a', 'w'))).toThrow(/applied first, after only 5/);
  });
});
