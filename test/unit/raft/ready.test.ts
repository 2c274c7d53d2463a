import { describe, expect, it } from 'vitest';
import { RaftCore, RaftInvariantError, type LogIndex, type NodeId, type Term } from '../../../src/raft/index.js';
import { RaftLog } from '../../../src/raft/log.js';
import { Network, bytes, diskWithTerms, emptyDisk, seeded } from './network.js';

const n = (id: number): NodeId => id as NodeId;

function follower(opts: { random?: () => number } = {}): RaftCore {
  return new RaftCore(
    { id: n(1), random: opts.random ?? seeded(1) },
    { hardState: emptyDisk().hardState, entries: [], bootstrapConfState: { voters: [n(1), n(2), n(3)], learners: [] }, applied: 0 as LogIndex },
  );
}

describe('the Ready / advance contract', () => {
  it('has nothing to do when nothing happened', () => {
    const node = follower();
    expect(node.hasReady()).toBe(false);
    node.tick();
    expect(node.hasReady()).toBe(false);
  });

  it('hands out hardState only when it changed, and entries only until advanced', () => {
    const node = follower();
    const append = (index: number, commit: number, entries: number[]) =>
      node.step({
        type: 'append', from: n(2), to: n(1), term: 1 as Term, index: index as LogIndex, logTerm: (index > 0 ? 1 : 0) as Term,
        entries: entries.map((i) => ({ term: 1 as Term, index: i as LogIndex, type: 'normal' as const, data: bytes(`${i}`) })), commit: commit as LogIndex,
      });
    append(0, 0, [1, 2]);
    let ready = node.ready();
    expect(ready.hardState).toEqual({ term: 1, vote: 0, commit: 0 });
    expect(ready.softState).toEqual({ leader: 2, role: 'follower' });
    expect(ready.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(node.hasReady()).toBe(false);
    expect(() => node.ready()).toThrow(RaftInvariantError);
    node.advance(ready);
    append(2, 2, []);
    ready = node.ready();
    expect(ready.hardState).toEqual({ term: 1, vote: 0, commit: 2 });
    expect(ready.softState).toBeUndefined();
    expect(ready.entries).toEqual([]);
    expect(ready.committed.map((e) => e.index)).toEqual([1, 2]);
    node.advance(ready);
    append(2, 2, []);
    ready = node.ready();
    expect(ready.hardState).toBeUndefined();
    expect(ready.messages).toHaveLength(1);
    node.advance(ready);
    expect(node.hasReady()).toBe(false);
  });

  it('rejects advance() with a Ready that was not handed out', () => {
    const node = follower();
    node.readIndex(bytes('x'));
    const ready = node.ready();
    expect(() => node.advance({ ...ready })).toThrow(RaftInvariantError);
    node.advance(ready);
  });

  it('never emits a message to itself (the network helper checks every message)', () => {
    const net = new Network({ voters: [1, 2, 3, 4, 5] });
    net.tick(50);
    net.node(net.leaders()[0]!).propose(bytes('x'));
    net.stabilize();
    expect(net.sent.length).toBeGreaterThan(0);
    expect(net.sent.every((m) => m.to !== m.from)).toBe(true);
  });
});

describe('invariants fire with the numbers', () => {
  const conf = { voters: [n(1)], learners: [] };
  it('on a restart state with commit beyond the log', () => {
    expect(() =>
      new RaftCore({ id: n(1), random: seeded(1) }, { hardState: { term: 1 as Term, vote: n(0), commit: 3 as LogIndex }, entries: diskWithTerms([1], 1).entries, bootstrapConfState: conf, applied: 0 as LogIndex }),
    ).toThrow(/commit 3 is beyond the last index 1/);
  });

  it('on a restart state with a hole in the log, decreasing terms, or applied above commit', () => {
    const entries = diskWithTerms([1, 1, 1], 1).entries;
    const init = (e: typeof entries, commit = 0, applied = 0) =>
      new RaftCore({ id: n(1), random: seeded(1) }, { hardState: { term: 2 as Term, vote: n(0), commit: commit as LogIndex }, entries: e, bootstrapConfState: conf, applied: applied as LogIndex });
    expect(() => init([entries[0]!, entries[2]!])).toThrow(/not contiguous: entry index 3, expected 2/);
    expect(() => init([entries[0]!, { ...entries[1]!, term: 0 as Term }])).toThrow(/terms decrease/);
    expect(() => init(entries, 1, 2)).toThrow(/applied 2 is above commit 1/);
  });

  it('on a heartbeat that commits beyond the last index', () => {
    const node = follower();
    expect(() => node.step({ type: 'heartbeat', from: n(2), to: n(1), term: 1 as Term, commit: 4 as LogIndex })).toThrow(/commit 4 is beyond the last index 0/);
  });

  it('on an append that would overwrite committed entries', () => {
    const log = new RaftLog({ index: 0 as LogIndex, term: 0 as Term, confState: conf }, diskWithTerms([1, 1, 1], 1).entries, 2 as LogIndex, 0 as LogIndex);
    expect(() => log.append(diskWithTerms([1, 2], 2).entries.slice(1))).toThrow(/append at index 2 would overwrite committed entries \(commit 2\)/);
  });

  it('on a message for another node, and on a bad PRNG', () => {
    const node = follower();
    expect(() => node.step({ type: 'heartbeat', from: n(2), to: n(3), term: 1 as Term })).toThrow(/addressed to 3/);
    expect(() => follower({ random: () => 1 })).toThrow(/outside \[0, 1\)/);
  });

  it('validates options with RangeError', () => {
    const init = { hardState: emptyDisk().hardState, entries: [], bootstrapConfState: conf, applied: 0 as LogIndex };
    expect(() => new RaftCore({ id: n(1), random: seeded(1), electionTimeoutTicks: 0 }, init)).toThrow(RangeError);
    expect(() => new RaftCore({ id: n(1), random: seeded(1), heartbeatIntervalTicks: 10 }, init)).toThrow(RangeError);
    expect(() => new RaftCore({ id: n(0), random: seeded(1) }, init)).toThrow(RangeError);
  });
});
