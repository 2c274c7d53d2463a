import { describe, expect, it } from 'vitest';
import { RaftInvariantError, type LogIndex, type Message, type NodeId, type Term } from '../../../src/raft/index.js';
import { Network, bytes, text } from './network.js';

const n = (id: number): NodeId => id as NodeId;

/** Node 3 misses entries 2..6, which the leader then compacts away. */
function laggingCluster(): Network {
  const net = new Network({ voters: [1, 2, 3] });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.node(1).propose(bytes(`e${i}`));
  net.stabilize();
  expect(net.node(1).status().commit).toBe(6);
  const meta = net.node(1).compact(5 as LogIndex);
  expect(meta).toEqual({ index: 5, term: 1, confState: { voters: [1, 2, 3], learners: [] } });
  expect(net.node(1).status().firstIndex).toBe(6);
  return net;
}

describe('snapshots', () => {
  it('sends a snapshot (data left to the runtime) to a follower that needs compacted entries', () => {
    const net = laggingCluster();
    net.heal();
    net.tick(1, [1]);
    const snap = net.sent.find((m): m is Message => m.type === 'snapshot')!;
    expect(snap).toMatchObject({ from: 1, to: 3, snapshot: { meta: { index: 5, term: 1 } } });
    expect(snap.snapshot!.data.byteLength).toBe(0);
    // Node 3 restored it, answered with its index, and was brought up to date after it.
    expect(net.sent).toContainEqual({ type: 'appendResponse', from: 3, to: 1, term: 1, index: 5 });
    const disk = net.disks.get(n(3))!;
    expect(disk.snapshot).toEqual({ index: 5, term: 1, confState: { voters: [1, 2, 3], learners: [] } });
    expect(text(disk.snapshotData!)).toBe('snap@5');
    expect(disk.entries.map((e) => e.index)).toEqual([6]);
    expect(net.node(3).status()).toMatchObject({ commit: 6, applied: 6, firstIndex: 6 });
    expect(net.appliedData(3)).toEqual(['snapshot', 'e4']);
    expect(net.node(1).status().peers.find((p) => p.id === 3)).toMatchObject({ state: 'replicate', match: 6 });
  });

  it('the follower hands the snapshot out in Ready with commit = its index', () => {
    const net = laggingCluster();
    const node3 = net.node(3);
    node3.step({
      type: 'snapshot',
      from: n(1),
      to: n(3),
      term: 1 as Term,
      snapshot: { meta: { index: 5 as LogIndex, term: 1 as Term, confState: { voters: [n(1), n(2), n(3)], learners: [] } }, data: bytes('S') },
    });
    const ready = node3.ready();
    expect(ready.snapshot?.meta.index).toBe(5);
    expect(text(ready.snapshot!.data)).toBe('S');
    expect(ready.hardState).toMatchObject({ commit: 5 });
    expect(ready.entries).toEqual([]);
    expect(ready.committed).toEqual([]);
    expect(ready.messages).toEqual([{ type: 'appendResponse', from: 3, to: 1, term: 1, index: 5 }]);
    node3.advance(ready);
    expect(node3.status()).toMatchObject({ applied: 5, commit: 5, lastIndex: 5 });
  });

  it('ignores a snapshot at or below its commit index, answering with its commit', () => {
    const net = laggingCluster();
    const node2 = net.node(2);
    node2.step({
      type: 'snapshot', from: n(1), to: n(2), term: 1 as Term,
      snapshot: { meta: { index: 5 as LogIndex, term: 1 as Term, confState: { voters: [n(1), n(2), n(3)], learners: [] } }, data: bytes('S') },
    });
    const ready = node2.ready();
    expect(ready.snapshot).toBeUndefined();
    expect(ready.messages).toEqual([{ type: 'appendResponse', from: 2, to: 1, term: 1, index: 6 }]);
  });

  it('reportSnapshot(ok=false) returns the follower to probe and a new snapshot is sent later', () => {
    const net = laggingCluster();
    net.heal();
    net.filter = (m) => m.type === 'snapshot';
    net.tick(1, [1]);
    expect(net.node(1).status().peers.find((p) => p.id === 3)?.state).toBe('snapshot');
    net.node(1).reportSnapshot(n(3), false);
    expect(net.node(1).status().peers.find((p) => p.id === 3)?.state).toBe('probe');
    net.filter = undefined;
    net.tick(2, [1]);
    expect(net.node(3).status().commit).toBe(6);
  });

  it('compact() remembers the membership at the compaction index', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.node(1).proposeConfChange({ type: 'addLearner', node: n(4) });
    net.stabilize();
    net.node(1).proposeConfChange({ type: 'removeNode', node: n(4) });
    net.node(1).propose(bytes('x'));
    net.stabilize();
    expect(net.node(1).compact(2 as LogIndex).confState).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(net.node(1).compact(2 as LogIndex).index).toBe(2);
    expect(net.node(1).compact(4 as LogIndex).confState).toEqual({ voters: [1, 2, 3], learners: [], removed: [4] });
    expect(() => net.node(1).compact(3 as LogIndex)).toThrow(RangeError);
    expect(() => net.node(1).compact(9 as LogIndex)).toThrow(RaftInvariantError);
  });

  it('a new member added after compaction is caught up by a snapshot', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    for (let i = 0; i < 3; i++) net.node(1).propose(bytes(`e${i}`));
    net.stabilize();
    net.node(1).compact(4 as LogIndex);
    net.node(1).proposeConfChange({ type: 'addLearner', node: n(4) });
    net.addNode(4, { voters: [], learners: [] });
    net.stabilize();
    net.tick(2, [1]);
    expect(net.node(4).status()).toMatchObject({ commit: 5, firstIndex: 5, confState: { voters: [1, 2, 3], learners: [4] } });
  });
});
