/**
 * A small randomized safety check of the core alone (the full simulation lives in test/sim):
 * lossy, reordering, duplicating network, partitions, restarts, compaction and membership
 * changes; after every step, Election Safety and State Machine Safety; at the end, liveness.
 */
import { describe, expect, it } from 'vitest';
import { type Entry, type NodeId } from '../../../src/raft/index.js';
import { Network, bytes, seeded, text } from './network.js';

const n = (id: number): NodeId => id as NodeId;

function check(net: Network, leadersByTerm: Map<number, number>, appliedByIndex: Map<number, string>, seen: Map<NodeId, number>): void {
  for (const [id, node] of net.nodes) {
    const s = node.status();
    if (s.role === 'leader') {
      const other = leadersByTerm.get(s.term);
      if (other !== undefined && other !== id) throw new Error(`two leaders in term ${s.term}: ${other} and ${id}`);
      leadersByTerm.set(s.term, id);
    }
    const applied = net.applied.get(id)!;
    for (let i = seen.get(id) ?? 0; i < applied.length; i++) {
      const e = applied[i] as Entry;
      if (text(e.data) === 'snapshot') continue;
      const value = `${e.term}:${e.type}:${text(e.data)}`;
      const other = appliedByIndex.get(e.index);
      if (other !== undefined && other !== value) throw new Error(`node ${id} applied ${value} at ${e.index}, another node ${other}`);
      appliedByIndex.set(e.index, value);
    }
    seen.set(id, applied.length);
  }
}

function run(seed: number, steps: number): void {
  const random = seeded(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const net = new Network({ voters: [1, 2, 3], seed, raft: { electionTimeoutTicks: 5, inflightMessagesMax: 4, appendBatchBytesMax: 8 } });
  const leadersByTerm = new Map<number, number>();
  const appliedByIndex = new Map<number, string>();
  const seen = new Map<NodeId, number>();
  let proposals = 0;
  const spare = [4, 5];
  for (let step = 0; step < steps; step++) {
    const ids = [...net.nodes.keys()];
    const r = random();
    if (r < 0.15) net.node(pick(ids)).tick();
    else if (r < 0.4) net.processReady(pick(ids));
    else if (r < 0.7 && net.queue.length > 0) {
      const i = Math.floor(random() * net.queue.length);
      const [m] = net.queue.splice(i, 1);
      net.deliver(m!);
      if (random() < 0.05) net.deliver(m!); // duplicate
    } else if (r < 0.75 && net.queue.length > 0) net.queue.splice(Math.floor(random() * net.queue.length), 1);
    else if (r < 0.85) {
      const leader = net.leaders().at(-1);
      if (leader !== undefined) net.node(leader).propose(bytes(`p${proposals++}`));
    } else if (r < 0.88) {
      net.heal();
      if (random() < 0.5) net.isolate(pick(ids));
    } else if (r < 0.9) net.restart(pick(ids));
    else if (r < 0.92) {
      const id = pick(ids);
      const s = net.node(id).status();
      if (s.applied > s.firstIndex) net.compact(id, s.applied);
    } else if (r < 0.93) {
      const leader = net.leaders().at(-1);
      if (leader !== undefined) {
        const conf = net.node(leader).status().confState;
        const learner = conf.learners[0];
        const removable = conf.voters.filter((v) => v !== leader);
        let change;
        if (learner !== undefined) change = { type: 'addVoter' as const, node: learner };
        else if (spare.length > 0 && random() < 0.6) change = { type: 'addLearner' as const, node: n(spare[0]!) };
        else if (conf.voters.length > 3) change = { type: 'removeNode' as const, node: pick(removable) };
        if (change && net.node(leader).proposeConfChange(change).ok && change.type === 'addLearner') {
          spare.shift();
          net.addNode(change.node, conf);
        }
      }
    }
    check(net, leadersByTerm, appliedByIndex, seen);
  }
  // Liveness: heal, stop losing messages, and everything proposed so far settles everywhere.
  net.heal();
  net.tick(60);
  const leaders = net.leaders().filter((id) => net.node(id).status().confState.voters.includes(id));
  expect(leaders.length).toBe(1);
  const leader = net.node(leaders[0]!);
  leader.propose(bytes('final'));
  net.tick(5);
  check(net, leadersByTerm, appliedByIndex, seen);
  for (const id of leader.status().confState.voters) {
    expect(net.node(id).status().commit, `node ${id} of seed ${seed}`).toBe(leader.status().lastIndex);
  }
}

describe('randomized safety of the core', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}`, () => run(seed, 4000));
  }
});
