import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../../src/raft/index.js';
import { Network, bytes } from './network.js';

const n = (id: number): NodeId => id as NodeId;

describe('leadership transfer', () => {
  it('transfers to an up-to-date follower: timeoutNow, then a vote with transfer:true', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.node(1).transferLeadership(n(2));
    net.stabilize();
    expect(net.leaders()).toEqual([2]);
    expect(net.node(2).status().term).toBe(2);
    expect(net.sent.filter((m) => m.type === 'timeoutNow').map((m) => [m.from, m.to])).toEqual([[1, 2]]);
    const votes = net.sent.filter((m) => m.type === 'vote' && m.from === 2);
    expect(votes.length).toBe(2);
    for (const v of votes) expect(v.transfer).toBe(true);
    // The transfer target skipped pre-vote.
    expect(net.sent.some((m) => m.type === 'preVote' && m.from === 2)).toBe(false);
  });

  it('catches a lagging target up first and refuses proposals meanwhile', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.isolate(3);
    for (let i = 0; i < 3; i++) net.node(1).propose(bytes(`x${i}`));
    net.stabilize();
    net.node(1).transferLeadership(n(3));
    expect(net.node(1).status().transferee).toBe(3);
    expect(net.node(1).propose(bytes('no'))).toEqual({ ok: false, reason: 'transferring', leader: 1 });
    net.heal();
    net.stabilize();
    net.tick(1, [1]);
    expect(net.leaders()).toEqual([3]);
    expect(net.appliedData(3)).toEqual(['x0', 'x1', 'x2']);
  });

  it('aborts after an election timeout if the target never catches up', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.isolate(3);
    net.node(1).transferLeadership(n(3));
    expect(net.node(1).propose(bytes('no')).ok).toBe(false);
    net.tick(9, [1]);
    expect(net.node(1).status().transferee).toBe(3);
    net.tick(1, [1]);
    expect(net.node(1).status()).toMatchObject({ role: 'leader', transferee: 0 });
    expect(net.node(1).propose(bytes('yes')).ok).toBe(true);
  });

  it('a follower forwards the request to the leader', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.node(3).transferLeadership(n(3));
    net.stabilize();
    const forward = net.sent.find((m) => m.type === 'transferLeader');
    expect(forward).toMatchObject({ from: 3, to: 1, index: 3 });
    expect(net.leaders()).toEqual([3]);
  });

  it('ignores a transfer to a learner, to an unknown node, or to itself', () => {
    const net = new Network({ voters: [1, 2], learners: [3] });
    net.campaign(1);
    for (const target of [3, 9, 1]) {
      net.node(1).transferLeadership(n(target));
      expect(net.node(1).status().transferee).toBe(0);
    }
    net.stabilize();
    expect(net.leaders()).toEqual([1]);
  });
});
