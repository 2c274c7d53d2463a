import { describe, expect, it } from 'vitest';
import { type Entry, type LogIndex, type NodeId, type Term } from '../../../src/raft/index.js';
import { Network, bytes, diskWithTerms, type Disk } from './network.js';

const n = (id: number): NodeId => id as NodeId;

/**
 * Raft paper, Figure 8. S1 (leader in term 4) holds entry 2 of term 2 and gets it onto a
 * majority (S1, S2, S3) before its own term-4 entry is replicated. S5 (entry 2 of term 3) can
 * still win term 5 with S2, S3, S4 and overwrite entry 2 everywhere: so entry 2 must not count
 * as committed just because a majority holds it.
 */
function figure8(commitPreviousTermByCount: boolean): Network {
  const disk = (terms: number[], term: number): Disk => {
    const d = diskWithTerms(terms, term, 1);
    d.entries = d.entries.map((e) => (e.index === 2 ? { ...e, data: bytes(`x@${e.term}`) } : e));
    return d;
  };
  const net = new Network({
    voters: [1, 2, 3, 4, 5],
    // No leases: the scenario elects S5 by ticking it alone.
    raft: { checkQuorum: false, plantedBugs: { commitPreviousTermByCount } },
    disks: { 1: disk([1, 2], 3), 2: disk([1, 2], 3), 3: disk([1], 3), 4: disk([1], 3), 5: disk([1, 3], 3) },
  });
  net.isolate(5);
  // Appends carrying S1's term-4 entry (index 3) are lost.
  net.filter = (m) => m.type === 'append' && (m.entries ?? []).some((e) => e.index === 3);
  net.electLeader(1);
  expect(net.node(1).status().term).toBe(4);
  const entry2: Entry = { term: 2 as Term, index: 2 as LogIndex, type: 'normal', data: bytes('x@2') };
  // S1's earlier, smaller appends: entry 2 alone to S3, and an empty probe at 2 to S2.
  net.deliver({ type: 'append', from: n(1), to: n(3), term: 4 as Term, index: 1 as LogIndex, logTerm: 1 as Term, entries: [entry2], commit: 1 as LogIndex });
  net.deliver({ type: 'append', from: n(1), to: n(2), term: 4 as Term, index: 2 as LogIndex, logTerm: 2 as Term, entries: [], commit: 1 as LogIndex });
  net.stabilize();
  return net;
}

describe('commit rule (Figure 8)', () => {
  it('does not commit a previous-term entry held by a majority', () => {
    const net = figure8(false);
    const s1 = net.node(1).status();
    expect(s1.peers.filter((p) => p.match >= 2).map((p) => p.id)).toEqual([1, 2, 3]);
    expect(s1.commit).toBe(1);
    // S1 crashes; S5 wins term 5 and overwrites entry 2: nothing committed was lost.
    net.isolate(1);
    net.heal();
    net.isolate(1);
    net.filter = undefined;
    net.electLeader(5);
    net.node(5).propose(bytes('after'));
    net.stabilize();
    for (const id of [2, 3, 4, 5]) expect(net.appliedData(id)).toEqual(['1@1', 'x@3', 'after']);
    expect(net.appliedData(1)).toEqual(['1@1']);
    // S1 comes back and is brought in line.
    net.heal();
    net.tick(3);
    expect(net.appliedData(1)).toEqual(['1@1', 'x@3', 'after']);
  });

  it('commits once an entry of the current term is on a majority, and with it the earlier ones', () => {
    const net = figure8(false);
    net.filter = undefined;
    net.tick(1, [1]);
    expect(net.node(1).status().commit).toBe(3);
    for (const id of [1, 2, 3, 4]) expect(net.appliedData(id)).toEqual(['1@1', 'x@2']);
  });

  it('planted bug commitPreviousTermByCount: commits by count and loses a committed entry', () => {
    const net = figure8(true);
    expect(net.node(1).status().commit).toBe(2);
    expect(net.appliedData(1)).toEqual(['1@1', 'x@2']);
    net.heal();
    net.isolate(1);
    net.filter = undefined;
    net.electLeader(5);
    net.stabilize();
    // State machine safety is broken: index 2 was applied as x@2 on S1 and x@3 elsewhere.
    expect(net.appliedData(2)).toEqual(['1@1', 'x@3']);
    const at2 = (id: number): string => new TextDecoder().decode(net.applied.get(n(id))!.find((e) => e.index === 2)!.data);
    expect([at2(1), at2(2)]).toEqual(['x@2', 'x@3']);
  });
});
