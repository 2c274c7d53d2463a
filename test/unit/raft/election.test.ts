import { describe, expect, it } from 'vitest';
import { Network, bytes } from './network.js';

describe('leader election', () => {
  it('elects exactly one leader in a three-node cluster and commits a no-op of its term', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    expect(net.leaders()).toEqual([1]);
    const status = net.node(1).status();
    expect(status.term).toBe(1);
    expect(status.commit).toBe(1);
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
});
