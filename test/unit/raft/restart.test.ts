import { describe, expect, it } from 'vitest';
import { NO_NODE, RaftCore, type Entry, type LogIndex, type NodeId, type Term } from '../../../src/raft/index.js';
import { Network, bytes, diskWithTerms, seeded } from './network.js';

const n = (id: number): NodeId => id as NodeId;

describe('restart from RaftInitialState', () => {
  it('hands committed but unapplied entries out again, and nothing else', () => {
    const disk = diskWithTerms([1, 1, 2, 2, 2], 2, 5);
    const node = new RaftCore(
      { id: n(1), random: seeded(1) },
      { hardState: { term: 2 as Term, vote: n(2), commit: 5 as LogIndex }, entries: disk.entries, bootstrapConfState: { voters: [n(1), n(2), n(3)], learners: [] }, applied: 2 as LogIndex },
    );
    expect(node.status()).toMatchObject({ term: 2, vote: 2, commit: 5, applied: 2, lastIndex: 5, role: 'follower' });
    const ready = node.ready();
    expect(ready.committed.map((e) => e.index)).toEqual([3, 4, 5]);
    expect(ready.hardState).toBeUndefined();
    expect(ready.entries).toEqual([]);
    expect(ready.messages).toEqual([]);
    node.advance(ready);
    expect(node.hasReady()).toBe(false);
    expect(node.status().applied).toBe(5);
  });

  it('restarts from a snapshot plus the entries after it, with the membership of both', () => {
    const entries: Entry[] = [
      { term: 3 as Term, index: 11 as LogIndex, type: 'confChange', data: bytes('{"type":"addLearner","node":4}') },
      { term: 3 as Term, index: 12 as LogIndex, type: 'normal', data: bytes('x') },
    ];
    const node = new RaftCore(
      { id: n(1), random: seeded(1) },
      {
        hardState: { term: 3 as Term, vote: NO_NODE, commit: 12 as LogIndex },
        snapshot: { index: 10 as LogIndex, term: 3 as Term, confState: { voters: [n(1), n(2)], learners: [] } },
        entries,
        bootstrapConfState: { voters: [n(7)], learners: [] },
        applied: 10 as LogIndex,
      },
    );
    expect(node.status()).toMatchObject({ firstIndex: 11, lastIndex: 12, confState: { voters: [1, 2], learners: [4] } });
    expect(node.ready().committed.map((e) => e.index)).toEqual([11, 12]);
  });

  it('a restarted cluster keeps its log and elects a leader that has everything committed', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    for (const s of ['a', 'b']) net.node(1).propose(bytes(s));
    net.stabilize();
    for (const id of [1, 2, 3]) net.restart(id);
    net.tick(30);
    const leader = net.leaders()[0]!;
    expect(net.node(leader).status().term).toBeGreaterThan(1);
    net.node(leader).propose(bytes('c'));
    net.stabilize();
    for (const id of [1, 2, 3]) expect(net.node(id).status().commit).toBe(5);
  });

  it('planted bug voteNotPersisted: after a restart the node votes twice in one term', () => {
    for (const bug of [false, true]) {
      const net = new Network({ voters: [1, 2, 3], raft: { preVote: false, plantedBugs: { voteNotPersisted: bug } } });
      const vote = (from: number) =>
        net.node(1).step({ type: 'vote', from: n(from), to: n(1), term: 1 as Term, index: 0 as LogIndex, logTerm: 0 as Term });
      vote(2);
      net.processReady(n(1));
      expect(net.disks.get(n(1))!.hardState).toEqual({ term: 1, vote: bug ? 0 : 2, commit: 0 });
      net.restart(1);
      vote(3);
      net.processReady(n(1));
      const answers = net.sent.filter((m) => m.type === 'voteResponse').map((m) => [m.to, m.reject]);
      expect(answers).toEqual([[2, false], [3, !bug]]);
    }
  });
});
