import { describe, expect, it } from 'vitest';
import { RaftCore, type LogIndex, type NodeId } from '../../../src/raft/index.js';
import { Network, bytes, emptyDisk, seeded, text } from './network.js';

const n = (id: number): NodeId => id as NodeId;
const contexts = (list: readonly { context: Uint8Array }[] | readonly Uint8Array[]): string[] =>
  list.map((x) => text(x instanceof Uint8Array ? x : x.context));

describe('ReadIndex on the leader', () => {
  it('answers after a heartbeat round acknowledged by a quorum, at the commit index', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.node(1).propose(bytes('w'));
    net.stabilize();
    net.isolate(2);
    net.isolate(3);
    net.node(1).readIndex(bytes('r1'));
    net.stabilize();
    const heartbeats = net.sent.filter((m) => m.type === 'heartbeat' && m.context !== undefined);
    expect(heartbeats.map((m) => [m.to, text(m.context!)])).toEqual([[2, 'r1'], [3, 'r1']]);
    expect(net.readStates.get(n(1))).toEqual([]);
    net.heal();
    net.isolate(3);
    net.tick(1, [1]);
    expect(net.readStates.get(n(1))).toEqual([{ index: 2, context: bytes('r1') }]);
  });

  it('waits until an entry of the leader term is committed', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.filter = (m) => m.type === 'appendResponse';
    net.campaign(1);
    expect(net.node(1).status()).toMatchObject({ role: 'leader', commit: 0 });
    net.node(1).readIndex(bytes('r'));
    net.tick(1, [1]);
    expect(net.sent.some((m) => m.type === 'heartbeat' && m.context !== undefined)).toBe(false);
    expect(net.readStates.get(n(1))).toEqual([]);
    net.filter = undefined;
    net.tick(1, [1]);
    expect(net.node(1).status().commit).toBe(1);
    expect(net.readStates.get(n(1))).toEqual([{ index: 1, context: bytes('r') }]);
  });

  it('a single-node cluster answers at once', () => {
    const node = new RaftCore(
      { id: n(1), random: seeded(3) },
      { hardState: emptyDisk().hardState, entries: [], bootstrapConfState: { voters: [n(1)], learners: [] }, applied: 0 as LogIndex },
    );
    for (let i = 0; i < 20; i++) node.tick();
    node.advance(node.ready());
    node.readIndex(bytes('solo'));
    const ready = node.ready();
    expect(ready.readStates).toEqual([{ index: 1, context: bytes('solo') }]);
    expect(ready.messages).toEqual([]);
  });

  it('learner acknowledgements do not count toward the quorum', () => {
    const net = new Network({ voters: [1, 2], learners: [3] });
    net.campaign(1);
    net.isolate(2);
    net.node(1).readIndex(bytes('r'));
    net.tick(2, [1]);
    expect(net.sent.some((m) => m.type === 'heartbeatResponse' && m.from === 3 && m.context !== undefined)).toBe(true);
    expect(net.readStates.get(n(1))).toEqual([]);
  });

  it('fails pending reads fast when the leader steps down', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.isolate(1);
    net.node(1).readIndex(bytes('a'));
    net.node(1).readIndex(bytes('b'));
    net.tick(25, [1]);
    expect(net.node(1).status().role).not.toBe('leader');
    expect(contexts(net.droppedReads.get(n(1))!)).toEqual(['a', 'b']);
    expect(net.readStates.get(n(1))).toEqual([]);
  });

  it('drops reads beyond pendingReadsMax', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { pendingReadsMax: 2 } });
    net.campaign(1);
    net.isolate(1);
    for (const c of ['a', 'b', 'c']) net.node(1).readIndex(bytes(c));
    net.stabilize();
    expect(contexts(net.droppedReads.get(n(1))!)).toEqual(['c']);
  });
});

describe('ReadIndex on a follower', () => {
  it('forwards to the leader and emits the ReadState the leader answers', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.node(1).propose(bytes('w'));
    net.stabilize();
    net.node(2).readIndex(bytes('f'));
    net.tick(1, [1]);
    const forward = net.sent.find((m) => m.type === 'readIndex');
    expect(forward).toMatchObject({ from: 2, to: 1, term: 0 });
    expect(net.readStates.get(n(2))).toEqual([{ index: 2, context: bytes('f') }]);
    expect(net.readStates.get(n(1))).toEqual([]);
  });

  it('drops the read at once when no leader is known', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.node(2).readIndex(bytes('x'));
    net.stabilize();
    expect(contexts(net.droppedReads.get(n(2))!)).toEqual(['x']);
    expect(net.sent).toEqual([]);
  });

  it('drops forwarded reads when the leader changes', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.cutLink(1, 2);
    net.node(2).readIndex(bytes('lost'));
    net.stabilize();
    expect(net.droppedReads.get(n(2))).toEqual([]);
    net.heal();
    net.node(1).transferLeadership(n(3));
    net.stabilize();
    expect(net.leaders()).toEqual([3]);
    expect(contexts(net.droppedReads.get(n(2))!)).toEqual(['lost']);
  });

  it('the old leader rejects reads it was confirming when it steps down; the follower drops them', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    // Heartbeat answers are lost: the leader cannot confirm the read.
    net.filter = (m) => m.type === 'heartbeatResponse';
    net.node(2).readIndex(bytes('r'));
    net.stabilize();
    net.filter = undefined;
    net.cutLink(1, 3);
    net.node(1).transferLeadership(n(2));
    net.stabilize();
    expect(net.leaders()).toEqual([2]);
    expect(net.sent.some((m) => m.type === 'readIndexResponse' && m.reject === true && m.to === 2)).toBe(true);
    expect(contexts(net.droppedReads.get(n(2))!)).toEqual(['r']);
  });

  it('a non-leader that receives a forwarded read rejects it', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.node(3).step({ type: 'readIndex', from: n(2), to: n(3), term: 0 as never, context: bytes('q') });
    const ready = net.node(3).ready();
    expect(ready.messages).toEqual([{ type: 'readIndexResponse', from: 3, to: 2, term: 0, context: bytes('q'), reject: true }]);
  });
});

describe('planted bugs around reads', () => {
  it('readIndexWithoutQuorum: an isolated, deposed leader answers a stale read at once', () => {
    for (const bug of [false, true]) {
      const net = new Network({ voters: [1, 2, 3], raft: { checkQuorum: false, plantedBugs: { readIndexWithoutQuorum: bug } } });
      net.campaign(1);
      net.isolate(1);
      net.electLeader(2);
      net.node(2).propose(bytes('new'));
      net.stabilize();
      expect(net.node(2).status().commit).toBe(3);
      net.node(1).readIndex(bytes('stale?'));
      net.stabilize();
      if (bug) expect(net.readStates.get(n(1))).toEqual([{ index: 1, context: bytes('stale?') }]);
      else expect(net.readStates.get(n(1))).toEqual([]);
    }
  });

  it('noNoopAtTermStart: a new leader serves reads below the true commit index', () => {
    for (const bug of [false, true]) {
      const net = new Network({ voters: [1, 2, 3], raft: { plantedBugs: { noNoopAtTermStart: bug } } });
      net.campaign(1);
      if (bug) net.node(1).propose(bytes('first'));
      net.stabilize();
      net.node(1).propose(bytes('w'));
      // Deliver the append, then the acks; node 1 commits 'w' but dies before telling anyone.
      net.round();
      net.round();
      net.processReady(n(1));
      const committed = net.node(1).status().commit;
      expect(committed).toBe(2);
      net.queue = [];
      net.isolate(1);
      expect(net.node(2).status().commit).toBe(1);
      net.tick(25, [2, 3]);
      const leader = net.leaders().find((id) => id !== 1)!;
      net.node(leader).readIndex(bytes('r'));
      net.tick(1, [leader]);
      const [state] = net.readStates.get(leader)!;
      expect(state).toBeDefined();
      if (bug) expect(state!.index).toBeLessThan(committed);
      else expect(state!.index).toBeGreaterThanOrEqual(committed);
    }
  });
});

describe('ReadIndex requests are never lost silently', () => {
  it('two followers that send the same context both get an answer (one is refused, none waits forever)', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.stabilize();
    net.node(2).readIndex(bytes('r0'));
    net.node(3).readIndex(bytes('r0'));
    net.stabilize();
    for (const id of [n(2), n(3)]) {
      const answered = contexts(net.readStates.get(id)!).length + contexts(net.droppedReads.get(id)!).length;
      expect(answered, `node ${id}`).toBe(1);
    }
  });

  it('a duplicate of a forwarded request that is still pending is answered once', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.stabilize();
    net.filter = (m) => m.type === 'heartbeatResponse';
    net.node(2).readIndex(bytes('dup'));
    net.stabilize();
    net.deliver({ type: 'readIndex', from: n(2), to: n(1), term: 0 as never, context: bytes('dup') });
    net.filter = undefined;
    net.tick(1, [1]);
    net.stabilize();
    expect(net.sent.filter((m) => m.type === 'readIndexResponse' && m.to === 2).map((m) => m.reject ?? false)).toEqual([false]);
    expect(contexts(net.readStates.get(n(2))!)).toEqual(['dup']);
  });

  it('a leader refuses a local read whose context it already holds', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.stabilize();
    net.filter = (m) => m.type === 'heartbeatResponse';
    net.node(1).readIndex(bytes('same'));
    net.node(1).readIndex(bytes('same'));
    net.stabilize();
    expect(contexts(net.droppedReads.get(n(1))!)).toEqual(['same']);
  });

  it('a follower sends a read again when the leader did not answer within readIndexRetryTicks', () => {
    const net = new Network({ voters: [1, 2, 3], raft: { readIndexRetryTicks: 3 } });
    net.campaign(1);
    net.stabilize();
    // The link follower → leader is cut one way: the request is lost.
    net.filter = (m) => m.from === 2 && m.to === 1;
    net.node(2).readIndex(bytes('cut'));
    net.stabilize();
    net.tick(2, [2]);
    expect(net.readStates.get(n(2))).toEqual([]);
    net.filter = undefined;
    net.tick(1, [2]);
    net.stabilize();
    expect(contexts(net.readStates.get(n(2))!)).toEqual(['cut']);
  });

  it('the read index is the leader\'s last index: a read waits for writes already proposed', () => {
    const net = new Network({ voters: [1, 2, 3] });
    net.campaign(1);
    net.stabilize();
    net.filter = (m) => m.type === 'appendResponse';
    net.node(1).propose(bytes('pending'));
    net.stabilize();
    const { lastIndex, commit } = net.node(1).status();
    expect(commit).toBeLessThan(lastIndex);
    net.node(1).readIndex(bytes('after-write'));
    net.stabilize();
    expect(net.readStates.get(n(1))).toEqual([{ index: lastIndex, context: bytes('after-write') }]);
  });
});
