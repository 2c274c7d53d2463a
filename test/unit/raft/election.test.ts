import { describe, expect, it } from 'vitest';
import { RaftCore, type LogIndex, type Message, type NodeId, type Term } from '../../../src/raft/index.js';
import { Network, bytes, emptyDisk, seeded } from './network.js';

const n = (id: number): NodeId => id as NodeId;

function single(seed: number, electionTimeoutTicks = 10): RaftCore {
  return new RaftCore(
    { id: n(1), random: seeded(seed), electionTimeoutTicks },
    { hardState: emptyDisk().hardState, entries: [], bootstrapConfState: { voters: [n(1)], learners: [] }, applied: 0 as LogIndex },
  );
}

describe('leader election', () => {
  it('elects exactly one leader in a three-node cluster and commits a no-op of its term', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    expect(net.leaders()).toEqual([1]);
    const status = net.node(1).status();
    expect(status.term).toBe(1);
    expect(status.commit).toBe(1);
    const noop = net.applied.get(n(1))![0]!;
    expect(noop).toMatchObject({ index: 1, term: 1, type: 'normal' });
    expect(noop.data.byteLength).toBe(0);
    for (const id of [2, 3]) {
      expect(net.node(id).status().leader).toBe(1);
      expect(net.node(id).status().commit).toBe(1);
    }
  });

  it('replicates and applies proposals on every node', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    for (const s of ['a', 'b', 'c']) expect(net.node(1).propose(bytes(s)).ok).toBe(true);
    net.stabilize();
    for (const id of [1, 2, 3]) expect(net.appliedData(id)).toEqual(['a', 'b', 'c']);
  });

  it('draws election timeouts in [t, 2t) from options.random', () => {
    const ticksSeen = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const node = single(seed);
      let ticks = 0;
      while (node.status().role !== 'leader' && ticks < 100) {
        node.tick();
        ticks++;
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(ticks).toBeLessThan(20);
      ticksSeen.add(ticks);
    }
    expect(ticksSeen.size).toBeGreaterThan(3);
  });

  it('a single node elects itself (through pre-vote) and commits at once', () => {
    const node = single(7);
    for (let i = 0; i < 20; i++) node.tick();
    expect(node.status()).toMatchObject({ role: 'leader', term: 1, commit: 1, leader: 1 });
    const ready = node.ready();
    expect(ready.messages).toEqual([]);
    expect(ready.hardState).toEqual({ term: 1, vote: 1, commit: 1 });
    expect(ready.entries.map((e) => e.index)).toEqual([1]);
    expect(ready.committed.map((e) => e.index)).toEqual([1]);
    expect(ready.softState).toEqual({ leader: 1, role: 'leader' });
  });

  it('grants one vote per term and rejects a candidate with a stale log', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { preVote: false, checkQuorum: false } });
    const node = net.node(1);
    const vote = (from: number, term: number, index: number, logTerm: number): Message => ({
      type: 'vote', from: n(from), to: n(1), term: term as Term, index: index as LogIndex, logTerm: logTerm as Term,
    });
    node.step(vote(2, 5, 0, 0));
    node.step(vote(3, 5, 0, 0));
    const responses = node.ready().messages;
    expect(responses).toEqual([
      { type: 'voteResponse', from: 1, to: 2, term: 5, reject: false },
      { type: 'voteResponse', from: 1, to: 3, term: 5, reject: true },
    ]);
    expect(node.status().vote).toBe(2);
  });

  it('rejects a vote from a candidate whose log is behind', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { preVote: false, checkQuorum: false } });
    net.campaign(1);
    net.node(1).propose(bytes('x'));
    net.stabilize();
    const node2 = net.node(2);
    // transfer: true gets past node 2's lease on leader 1; the log check still applies.
    node2.step({ type: 'vote', from: n(3), to: n(2), term: 9 as Term, index: 1 as LogIndex, logTerm: 1 as Term, transfer: true });
    net.processReady(n(2));
    const response = net.sent.at(-1)!;
    expect(response).toMatchObject({ type: 'voteResponse', to: 3, reject: true, term: 9 });
  });

  it('never lets a learner campaign', () => {
    const net = new Network({ voters: [1], learners: [2] });
    for (let i = 0; i < 100; i++) net.node(2).tick();
    expect(net.node(2).status().role).toBe('follower');
    expect(net.node(2).status().term).toBe(0);
  });

  it('is deterministic: the same seed and inputs give the same messages', () => {
    const run = (): string => {
      const net = new Network({ voters: [1, 2, 3, 4, 5], seed: 42 });
      net.tick(30);
      const leader = net.leaders()[0]!;
      net.node(leader).propose(bytes('v'));
      net.isolate(leader);
      net.tick(40);
      return JSON.stringify(net.sent, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v));
    };
    expect(run()).toBe(run());
  });
});

describe('pre-vote and check-quorum', () => {
  it('an isolated node does not raise its term under pre-vote and rejoins without disruption', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.isolate(3);
    for (let i = 0; i < 100; i++) net.node(3).tick();
    net.stabilize();
    expect(net.node(3).status().term).toBe(1);
    expect(net.node(3).status().role).toBe('preCandidate');
    net.heal();
    net.tick(5);
    expect(net.leaders()).toEqual([1]);
    expect(net.node(1).status().term).toBe(1);
    expect(net.node(3).status().leader).toBe(1);
  });

  it('a leader that hears from no quorum for an election timeout steps down', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.isolate(1);
    for (let i = 0; i < 20; i++) net.node(1).tick();
    expect(net.node(1).status().role).toBe('follower');
    expect(net.node(1).status().leader).toBe(0);
  });

  it('without check-quorum an isolated leader stays leader', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { checkQuorum: false } });
    net.campaign(1);
    net.isolate(1);
    for (let i = 0; i < 50; i++) net.node(1).tick();
    expect(net.node(1).status().role).toBe('leader');
  });

  it('followers ignore (pre)votes while they hear from a live leader (stickiness), except for transfers', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    const node2 = net.node(2);
    const request = (type: 'vote' | 'preVote', transfer?: boolean): Message => ({
      type, from: n(3), to: n(2), term: 2 as Term, index: 1 as LogIndex, logTerm: 1 as Term, ...(transfer ? { transfer } : {}),
    });
    node2.step(request('preVote'));
    node2.step(request('vote'));
    expect(node2.hasReady()).toBe(false);
    expect(node2.status()).toMatchObject({ term: 1, leader: 1, vote: 1 });
    node2.step(request('vote', true));
    const ready = node2.ready();
    expect(ready.messages).toEqual([{ type: 'voteResponse', from: 2, to: 3, term: 2, reject: false }]);
    expect(ready.hardState).toMatchObject({ term: 2, vote: 3 });
  });

  it('grants pre-votes once the leader has been silent for an election timeout', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.isolate(1);
    net.campaign(2);
    // 3 still hears from 1 as far as it knows: it ignores 2's pre-vote.
    expect(net.node(2).status()).toMatchObject({ role: 'preCandidate', term: 1 });
    net.tick(25, [2, 3]);
    const leaders = net.leaders().filter((id) => id !== 1);
    expect(leaders).toHaveLength(1);
    expect(net.node(leaders[0]!).status().term).toBe(2);
  });

  it('frees a candidate stuck at a higher term (check-quorum without pre-vote)', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { preVote: false } });
    net.campaign(1);
    net.isolate(3);
    for (let i = 0; i < 60; i++) net.node(3).tick();
    net.stabilize();
    const stuckTerm = net.node(3).status().term;
    expect(stuckTerm).toBeGreaterThan(2);
    expect(net.node(1).status().role).toBe('leader');
    net.heal();
    // The leader's heartbeat reaches 3, whose answer carries the higher term: the leader steps down.
    net.tick(1, [1]);
    expect(net.node(1).status().role).toBe('follower');
    expect(net.node(1).status().term).toBe(stuckTerm);
    net.tick(40);
    expect(net.leaders()).toHaveLength(1);
    expect(net.node(net.leaders()[0]!).status().term).toBeGreaterThan(stuckTerm);
  });

  it('a node with a smaller term can complete an election (pre-vote rejections carry the term)', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.cutLink(1, 3);
    net.cutLink(2, 3);
    net.node(1).transferLeadership(n(2));
    net.stabilize();
    expect(net.node(2).status()).toMatchObject({ role: 'leader', term: 2 });
    net.campaign(3);
    expect(net.node(3).status()).toMatchObject({ role: 'preCandidate', term: 1 });
    // Node 2 crashes. Node 3 (term 1) learns term 2 from node 1's pre-vote rejection; then the
    // two of them elect node 1 (node 3's log is behind).
    net.heal();
    net.isolate(2);
    const mark = net.sent.length;
    net.tick(40, [1, 3]);
    expect(net.sent.slice(mark)).toContainEqual({ type: 'preVoteResponse', from: 1, to: 3, term: 2, reject: true });
    expect(net.leaders().filter((id) => id !== 2)).toEqual([1]);
    expect(net.node(3).status()).toMatchObject({ leader: 1, term: net.node(1).status().term });
  });

  it('answers a stale pre-vote with its own term and a stale heartbeat with an append response', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    const node2 = net.node(2);
    // A transfer vote moves node 2 to term 5 despite its lease.
    node2.step({ type: 'vote', from: n(3), to: n(2), term: 5 as Term, index: 1 as LogIndex, logTerm: 1 as Term, transfer: true });
    node2.advance(node2.ready());
    node2.step({ type: 'preVote', from: n(3), to: n(2), term: 4 as Term, index: 1 as LogIndex, logTerm: 1 as Term });
    node2.step({ type: 'heartbeat', from: n(1), to: n(2), term: 1 as Term, commit: 1 as LogIndex });
    expect(node2.ready().messages).toEqual([
      { type: 'preVoteResponse', from: 2, to: 3, term: 5, reject: true },
      { type: 'appendResponse', from: 2, to: 1, term: 5, index: 0 },
    ]);
  });
});
