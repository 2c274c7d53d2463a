import { describe, expect, it } from 'vitest';
import {
  applyConfChange,
  confChangeProblem,
  decodeConfChange,
  encodeConfChange,
  type ConfChange,
  type LogIndex,
  type NodeId,
  type Term,
} from '../../../src/raft/index.js';
import { Network, bytes } from './network.js';

const n = (id: number): NodeId => id as NodeId;

/** A three-node cluster with node 1 leading and its no-op committed. */
function cluster(plantedBugs = {}): Network {
  const net = new Network({ voters: [1, 2, 3], raft: { plantedBugs } });
  net.campaign(1);
  return net;
}

describe('conf change encoding', () => {
  it('round-trips and rejects garbage', () => {
    const change: ConfChange = { type: 'addLearner', node: n(7) };
    expect(decodeConfChange(encodeConfChange(change))).toEqual(change);
    expect(() => decodeConfChange(bytes('{"type":"addVoter","node":0}'))).toThrow(RangeError);
    expect(() => decodeConfChange(bytes('nope'))).toThrow(RangeError);
  });
});

describe('membership changes, one server at a time', () => {
  it('adds a learner that receives the log but does not vote or count', () => {
    const net = cluster();
    net.node(1).propose(bytes('before'));
    net.stabilize();
    expect(net.node(1).proposeConfChange({ type: 'addLearner', node: n(4) }).ok).toBe(true);
    net.addNode(4, { voters: [n(1), n(2), n(3)], learners: [] });
    net.stabilize();
    expect(net.node(1).status().confState).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(net.node(4).status().confState).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(net.appliedData(4)).toEqual(['before']);
    // Two voters down: the learner's acks do not make a quorum.
    net.isolate(2);
    net.isolate(3);
    net.heal();
    net.cutLink(1, 2);
    net.cutLink(1, 3);
    net.node(1).propose(bytes('stuck'));
    net.stabilize();
    expect(net.appliedData(4)).toEqual(['before']);
    expect(net.node(1).status().peers.find((p) => p.id === 4)).toMatchObject({ voter: false, match: 4 });
    // And it never campaigns.
    for (let i = 0; i < 50; i++) net.node(4).tick();
    expect(net.node(4).status().role).toBe('follower');
  });

  it('addVoter of an existing learner promotes it', () => {
    const net = new Network({ voters: [1], learners: [2] });
    net.campaign(1);
    expect(net.node(1).proposeConfChange({ type: 'addVoter', node: n(2) }).ok).toBe(true);
    net.stabilize();
    expect(net.node(2).status().confState).toEqual({ voters: [1, 2], learners: [] });
    // Now commit needs node 2.
    net.isolate(2);
    const result = net.node(1).propose(bytes('needs 2'));
    net.stabilize();
    expect(result.ok && net.node(1).status().commit).toBe((result as { index: number }).index - 1);
  });

  it('refuses a second change while one is uncommitted', () => {
    const net = cluster();
    net.isolate(2);
    net.isolate(3);
    expect(net.node(1).proposeConfChange({ type: 'addLearner', node: n(4) }).ok).toBe(true);
    expect(net.node(1).proposeConfChange({ type: 'addLearner', node: n(5) })).toEqual({
      ok: false,
      reason: 'confChangePending',
      leader: 1,
    });
  });

  it('refuses a change until the leader committed an entry of its own term', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.filter = (m) => m.type === 'appendResponse';
    net.campaign(1);
    expect(net.node(1).status().commit).toBe(0);
    expect(net.node(1).proposeConfChange({ type: 'addLearner', node: n(4) })).toMatchObject({ ok: false, reason: 'confChangePending' });
    net.filter = undefined;
    net.tick(1, [1]);
    expect(net.node(1).proposeConfChange({ type: 'addLearner', node: n(4) }).ok).toBe(true);
  });

  it('planted bug unsafeMembershipChange accepts changes back to back and before an own-term commit', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { plantedBugs: { unsafeMembershipChange: true } } });
    net.filter = (m) => m.type === 'appendResponse';
    net.campaign(1);
    expect(net.node(1).proposeConfChange({ type: 'addLearner', node: n(4) }).ok).toBe(true);
    expect(net.node(1).proposeConfChange({ type: 'addVoter', node: n(5) }).ok).toBe(true);
    expect(net.node(1).status().confState).toEqual({ voters: [1, 2, 3, 5], learners: [4] });
  });

  it('refuses to remove the last voter', () => {
    const net = new Network({ voters: [1] });
    net.campaign(1);
    expect(() => net.node(1).proposeConfChange({ type: 'removeNode', node: n(1) })).toThrow(RangeError);
  });

  it('a leader removing itself keeps replicating without counting itself, then steps down once committed', () => {
    const net = cluster();
    const result = net.node(1).proposeConfChange({ type: 'removeNode', node: n(1) });
    expect(result.ok).toBe(true);
    expect(net.node(1).status().confState.voters).toEqual([2, 3]);
    expect(net.node(1).status().role).toBe('leader');
    // Without node 3's ack the removal (quorum of {2, 3} = both) cannot commit.
    net.isolate(3);
    net.stabilize();
    expect(net.node(1).status()).toMatchObject({ role: 'leader', commit: 1 });
    net.heal();
    net.tick(1, [1]);
    expect(net.node(1).status()).toMatchObject({ role: 'follower', leader: 0, commit: 2 });
    expect(net.node(2).status().commit).toBe(2);
    // The removed node never campaigns; the others elect a leader among themselves.
    net.tick(40);
    expect(net.node(1).status().role).toBe('follower');
    expect(net.leaders()).toHaveLength(1);
    expect([2, 3]).toContain(net.leaders()[0]);
  });

  it('a removed node that missed its removal does not disrupt the cluster', () => {
    const net = cluster();
    net.isolate(3);
    expect(net.node(1).proposeConfChange({ type: 'removeNode', node: n(3) }).ok).toBe(true);
    net.stabilize();
    expect(net.node(1).status().commit).toBe(2);
    for (let i = 0; i < 60; i++) net.node(3).tick();
    net.heal();
    const term = net.node(1).status().term;
    net.tick(60, [1, 2, 3]);
    expect(net.leaders()).toEqual([1]);
    expect(net.node(1).status().term).toBe(term);
  });

  it('reverts to the previous configuration when an uncommitted conf entry is truncated', () => {
    const net = cluster();
    net.isolate(1);
    // The old leader appends a conf change no one else gets.
    net.node(1).proposeConfChange({ type: 'addLearner', node: n(4) });
    net.stabilize();
    expect(net.node(1).status().confState).toEqual({ voters: [1, 2, 3], learners: [4] });
    net.tick(30, [2, 3]);
    const leader = net.leaders().find((id) => id !== 1)!;
    expect(net.node(leader).propose(bytes('x')).ok).toBe(true);
    net.stabilize();
    net.heal();
    net.tick(2);
    expect(net.node(1).status().confState).toEqual({ voters: [1, 2, 3], learners: [] });
    expect(net.appliedData(1)).toEqual(['x']);
  });

  it('a follower takes a conf entry into effect on append, before commit', () => {
    const net = cluster();
    net.filter = (m) => m.type === 'appendResponse';
    net.node(1).proposeConfChange({ type: 'addLearner', node: n(4) });
    net.stabilize();
    expect(net.node(2).status()).toMatchObject({ commit: 1, confState: { voters: [1, 2, 3], learners: [4] } });
    const entry = net.disks.get(n(2))!.entries.at(-1)!;
    expect(entry).toMatchObject({ index: 2 as LogIndex, term: 1 as Term, type: 'confChange' });
    expect(decodeConfChange(entry.data)).toEqual({ type: 'addLearner', node: 4 });
  });
});

describe('member addresses and removed ids in the configuration', () => {
  it('encodes addresses in conf entries and refuses a malformed one', () => {
    const change: ConfChange = { type: 'addVoter', node: n(4), address: '127.0.0.1:7004' };
    expect(decodeConfChange(encodeConfChange(change))).toEqual(change);
    const moved: ConfChange = { type: 'setAddress', node: n(4), address: 'h:1' };
    expect(decodeConfChange(encodeConfChange(moved))).toEqual(moved);
    expect(() => decodeConfChange(bytes('{"type":"setAddress","node":4}'))).toThrow(/valid address/);
    expect(() => decodeConfChange(bytes(`{"type":"addVoter","node":4,"address":"${'x'.repeat(300)}"}`))).toThrow(/valid address/);
  });

  it('carries addresses through add, move and remove, and remembers removed ids', () => {
    let conf = applyConfChange({ voters: [], learners: [] }, { type: 'addVoter', node: n(1), address: 'a:1' });
    conf = applyConfChange(conf, { type: 'addLearner', node: n(2), address: 'b:2' });
    conf = applyConfChange(conf, { type: 'addVoter', node: n(2) }); // promotion keeps the address
    expect(conf).toEqual({ voters: [1, 2], learners: [], addresses: { 1: 'a:1', 2: 'b:2' } });
    conf = applyConfChange(conf, { type: 'setAddress', node: n(2), address: 'c:3' });
    expect(conf.addresses).toEqual({ 1: 'a:1', 2: 'c:3' });
    conf = applyConfChange(conf, { type: 'removeNode', node: n(2) });
    expect(conf).toEqual({ voters: [1], learners: [], addresses: { 1: 'a:1' }, removed: [2] });
    expect(confChangeProblem(conf, { type: 'addLearner', node: n(2), address: 'b:2' })).toMatch(/never reused/);
    expect(confChangeProblem(conf, { type: 'setAddress', node: n(3), address: 'b:2' })).toMatch(/not a member/);
    expect(confChangeProblem(conf, { type: 'addLearner', node: n(3), address: '' })).toMatch(/address/);
  });

  it('replicates addresses to every node, into snapshots too', () => {
    const net = cluster();
    expect(net.node(1).proposeConfChange({ type: 'addLearner', node: n(4), address: 'h4:4' }).ok).toBe(true);
    net.addNode(4, { voters: [n(1), n(2), n(3)], learners: [] });
    net.stabilize();
    for (const id of [1, 2, 3, 4]) expect(net.node(id).configuration().addresses).toEqual({ 4: 'h4:4' });
    const meta = net.node(2).compact(net.node(2).status().applied);
    expect(meta.confState.addresses).toEqual({ 4: 'h4:4' });
  });
});
