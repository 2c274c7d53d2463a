import { describe, expect, it } from 'vitest';
import { NO_NODE, RaftCore, type LogIndex, type Message, type NodeId, type Term } from '../../../src/raft/index.js';
import { RaftLog } from '../../../src/raft/log.js';
import { Network, bytes, diskWithTerms } from './network.js';

const n = (id: number): NodeId => id as NodeId;
const termsOf = (net: Network, id: number): number[] => net.disks.get(n(id))!.entries.map((e) => e.term);

describe('log replication and fast backtracking', () => {
  // Raft paper, Figure 7: the leader for term 8 and six possible follower logs.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, followerLog] of Object.entries(followers)) {
    it(`brings Figure 7 follower (${name}) in line with the leader in few round trips`, () => {
      const net = new Network({
        voters: [1, 2, 3],
        disks: { 1: diskWithTerms(leaderLog, 7), 2: diskWithTerms(followerLog, 7), 3: diskWithTerms(leaderLog, 7) },
      });
      net.electLeader(1);
      expect(net.node(1).status().term).toBe(8);
      net.node(1).propose(bytes('after'));
      net.stabilize();
      const expected = [...leaderLog, 8, 8];
      expect(termsOf(net, 1)).toEqual(expected);
      expect(termsOf(net, 2)).toEqual(expected);
      expect(net.node(2).status().commit).toBe(12);
      const rejects = net.sent.filter((m) => m.type === 'appendResponse' && m.from === 2 && m.reject);
      expect(rejects.length).toBeLessThanOrEqual(2);
      // The follower's applied data equals the leader's.
      expect(net.appliedData(2)).toEqual(net.appliedData(1));
    });
  }

  it('the reject hint names the conflicting term and its first index, or the last entry when shorter', () => {
    const log = new RaftLog(
      { index: 0 as LogIndex, term: 0 as Term, confState: { voters: [n(1)], learners: [] } },
      diskWithTerms([1, 1, 2, 2, 2, 3], 3).entries,
      0 as LogIndex,
      0 as LogIndex,
    );
    expect(log.rejectHint(6 as LogIndex)).toEqual({ index: 6, term: 3 });
    expect(log.rejectHint(5 as LogIndex)).toEqual({ index: 3, term: 2 });
    expect(log.rejectHint(2 as LogIndex)).toEqual({ index: 1, term: 1 });
    expect(log.rejectHint(9 as LogIndex)).toEqual({ index: 6, term: 3 });
    log.commitTo(3 as LogIndex);
    expect(log.rejectHint(5 as LogIndex)).toEqual({ index: 4, term: 2 });
  });

  it('a follower rejects an append that does not match and accepts after the leader jumps back', () => {
    const net = new Network({ voters: [1, 2], disks: { 1: diskWithTerms([1, 1, 3, 3], 3), 2: diskWithTerms([1, 1, 2, 2, 2, 2], 3) } });
    net.electLeader(1);
    net.stabilize();
    const rejects = net.sent.filter((m): m is Message => m.type === 'appendResponse' && m.reject === true);
    expect(rejects[0]).toMatchObject({ index: 4, rejectHint: { index: 3, term: 2 } });
    expect(termsOf(net, 2)).toEqual([1, 1, 3, 3, 4]);
  });

  it('bounds the appends in flight to a follower by count', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { inflightMessagesMax: 3 } });
    net.campaign(1);
    net.filter = (m) => m.to === 2;
    const before = net.sent.length;
    for (let i = 0; i < 10; i++) {
      net.node(1).propose(bytes(`p${i}`));
      net.stabilize();
    }
    const appends = net.sent.slice(before).filter((m) => m.type === 'append' && m.to === 2 && (m.entries?.length ?? 0) > 0);
    expect(appends).toHaveLength(3);
    expect(net.node(1).status().peers.find((p) => p.id === 2)).toMatchObject({ state: 'replicate', next: 5 });
    // Node 3 was not held back.
    expect(net.node(3).status().commit).toBe(11);
  });

  it('bounds the bytes in flight to a follower', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { inflightBytesMax: 250 } });
    net.campaign(1);
    net.filter = (m) => m.to === 2;
    const before = net.sent.length;
    for (let i = 0; i < 6; i++) {
      net.node(1).propose(new Uint8Array(100));
      net.stabilize();
    }
    const appends = net.sent.slice(before).filter((m) => m.type === 'append' && m.to === 2 && (m.entries?.length ?? 0) > 0);
    expect(appends).toHaveLength(3);
  });

  it('batches entries per append up to appendBatchBytesMax, at least one entry', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { appendBatchBytesMax: 250 } });
    net.campaign(1);
    net.isolate(2);
    for (let i = 0; i < 5; i++) net.node(1).propose(new Uint8Array(100));
    net.node(1).propose(new Uint8Array(1000));
    net.stabilize();
    net.heal();
    const before = net.sent.length;
    net.tick(1, [1]);
    const appends = net.sent.slice(before).filter((m) => m.type === 'append' && m.to === 2 && (m.entries?.length ?? 0) > 0);
    expect(appends.map((m) => m.entries!.map((e) => e.data.byteLength))).toEqual([[100, 100], [100, 100], [100], [1000]]);
    expect(net.node(2).status().commit).toBe(7);
  });

  it('heartbeats carry min(match, commit)', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.isolate(3);
    for (let i = 0; i < 4; i++) net.node(1).propose(bytes(`x${i}`));
    net.stabilize();
    expect(net.node(1).status().commit).toBe(5);
    const before = net.sent.length;
    net.node(1).tick();
    net.processReady(n(1));
    const heartbeats = net.sent.slice(before).filter((m) => m.type === 'heartbeat');
    expect(heartbeats.find((m) => m.to === 2)?.commit).toBe(5);
    expect(heartbeats.find((m) => m.to === 3)?.commit).toBe(1);
  });

  it('refuses proposals beyond uncommittedEntriesMax with reason overloaded', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { uncommittedEntriesMax: 5 } });
    net.campaign(1);
    net.isolate(1);
    for (let i = 0; i < 5; i++) expect(net.node(1).propose(bytes('x')).ok).toBe(true);
    expect(net.node(1).propose(bytes('y'))).toEqual({ ok: false, reason: 'overloaded', leader: 1 });
  });

  it('rejects empty proposals (an empty entry is a leader no-op)', () => {
    const net = new Network({ voters: [1] });
    net.campaign(1);
    expect(() => net.node(1).propose(new Uint8Array(0))).toThrow(RangeError);
  });

  it('a follower refuses proposals, naming the leader', () => {
    const net = new Network({ voters: [1, 2, 3] });
    expect(net.node(2).propose(bytes('x'))).toEqual({ ok: false, reason: 'notLeader', leader: NO_NODE });
    net.campaign(1);
    expect(net.node(2).propose(bytes('x'))).toEqual({ ok: false, reason: 'notLeader', leader: 1 });
  });

  it('in probe state sends one append at a time', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.isolate(2);
    net.node(1).reportUnreachable(n(2));
    expect(net.node(1).status().peers.find((p) => p.id === 2)?.state).toBe('probe');
    const before = net.sent.length;
    for (let i = 0; i < 5; i++) {
      net.node(1).propose(bytes(`p${i}`));
      net.stabilize();
    }
    const appends = net.sent.slice(before).filter((m) => m.type === 'append' && m.to === 2);
    expect(appends).toHaveLength(1);
  });

  it('a follower answers an append below its commit with its commit index', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.node(1).propose(bytes('x'));
    net.stabilize();
    const node2: RaftCore = net.node(2);
    node2.step({ type: 'append', from: n(1), to: n(2), term: 1 as Term, index: 0 as LogIndex, logTerm: 0 as Term, entries: [], commit: 0 as LogIndex });
    expect(node2.ready().messages).toEqual([{ type: 'appendResponse', from: 2, to: 1, term: 1, index: 2 }]);
  });
});
