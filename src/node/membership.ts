/**
 * Membership as the node serves it: the changes an operator may ask for (AddMember,
 * RemoveMember, PromoteMember, a member's new address), the checks that give a clear error
 * before anything is proposed, the bootstrap entries of a new cluster, and the peer address book
 * the transport dials from.
 *
 * Membership lives in the log: a new cluster's first entries are one `addVoter` per bootstrap
 * member (the same bytes on every bootstrapping node), and every later change is a conf entry.
 * The core carries each member's address in its ConfState, so snapshots carry them too, and a
 * node that has data needs no --peers to find its cluster.
 */
import type { ConfChange, ConfState, Entry, HardState, LogIndex, NodeId, RaftStatus, Term } from '../raft/index.js';
import { encodeConfChange } from '../raft/index.js';
import type { MemberChange, MemberInfo } from './backend.js';
import { NodeError } from './errors.js';
import type { NodeTransport } from './io.js';

/** host:port, as --listen takes it. */
const ADDRESS_PATTERN = /^[A-Za-z0-9.\-_:[\]]{1,250}:[0-9]{1,5}$/;

/** The conf entries a new cluster starts with: term 1, committed, the same on every member. */
export function bootstrapLog(members: ReadonlyMap<NodeId, string>): { hardState: HardState; entries: Entry[] } {
  const ids = [...members.keys()].sort((a, b) => a - b);
  const entries = ids.map(
    (id, i): Entry => ({
      index: (i + 1) as LogIndex,
      term: 1 as Term,
      type: 'confChange',
      data: encodeConfChange({ type: 'addVoter', node: id, address: members.get(id)! }),
    }),
  );
  return { hardState: { term: 1 as Term, vote: 0 as NodeId, commit: entries.length as LogIndex }, entries };
}

/**
 * Why `change` cannot be made now, as the error the caller gets (undefined if it can).
 * `promoteLagEntriesMax`: a learner is caught up when its match index is within it of the last index.
 */
export function memberChangeProblem(
  change: MemberChange,
  raft: RaftStatus,
  promoteLagEntriesMax: number,
): NodeError | undefined {
  if (!Number.isSafeInteger(change.id) || change.id < 1) {
    return new NodeError('INVALID_ARGUMENT', `member id must be a positive integer, got ${change.id}`);
  }
  if ((change.type === 'add' || change.type === 'setAddress') && !ADDRESS_PATTERN.test(change.address)) {
    return new NodeError('INVALID_ARGUMENT', `member address must be host:port, got '${change.address}'`);
  }
  const { voters, learners } = raft.confState;
  const isVoter = voters.includes(change.id);
  const isLearner = learners.includes(change.id);
  switch (change.type) {
    case 'add':
      if (isVoter || isLearner) {
        return new NodeError('ALREADY_EXISTS', `node ${change.id} is already a ${isVoter ? 'voter' : 'learner'}; node ids are never reused`);
      }
      if (raft.confState.removed?.includes(change.id)) {
        return new NodeError('FAILED_PRECONDITION', `node ${change.id} was removed from this cluster, and node ids are never reused; pick a new id`);
      }
      return undefined;
    case 'promote': {
      if (isVoter) return new NodeError('FAILED_PRECONDITION', `node ${change.id} is already a voter`);
      if (!isLearner) return new NodeError('NOT_FOUND', `node ${change.id} is not a member`);
      const peer = raft.peers.find((p) => p.id === change.id);
      const match = peer?.match ?? 0;
      if (peer === undefined || match === 0 || peer.state !== 'replicate') {
        return new NodeError('FAILED_PRECONDITION', `node ${change.id} is not caught up: it has not acknowledged the leader's log yet (is it running?)`);
      }
      if (raft.lastIndex - match > promoteLagEntriesMax) {
        return new NodeError(
          'FAILED_PRECONDITION',
          `node ${change.id} is not caught up: it holds the log to index ${match}, the leader's last index is ${raft.lastIndex} (at most ${promoteLagEntriesMax} behind to promote)`,
        );
      }
      return undefined;
    }
    case 'remove':
      if (!isVoter && !isLearner) return new NodeError('NOT_FOUND', `node ${change.id} is not a member`);
      if (isVoter && voters.length === 1) {
        return new NodeError('FAILED_PRECONDITION', `node ${change.id} is the last voter; a cluster cannot remove its last voter`);
      }
      return undefined;
    case 'setAddress':
      if (!isVoter && !isLearner) return new NodeError('NOT_FOUND', `node ${change.id} is not a member`);
      return undefined;
  }
}

export function toConfChange(change: MemberChange): ConfChange {
  switch (change.type) {
    case 'add':
      return { type: change.learner ? 'addLearner' : 'addVoter', node: change.id, address: change.address };
    case 'promote':
      return { type: 'addVoter', node: change.id };
    case 'remove':
      return { type: 'removeNode', node: change.id };
    case 'setAddress':
      return { type: 'setAddress', node: change.id, address: change.address };
  }
}

/** Whether `conf` shows `change` made (after its entry was applied, unless a leader change dropped it). */
export function changeIsIn(change: MemberChange, conf: ConfState): boolean {
  switch (change.type) {
    case 'add':
      return (change.learner ? conf.learners : conf.voters).includes(change.id) && conf.addresses?.[change.id] === change.address;
    case 'promote':
      return conf.voters.includes(change.id);
    case 'remove':
      return !conf.voters.includes(change.id) && !conf.learners.includes(change.id);
    case 'setAddress':
      return conf.addresses?.[change.id] === change.address;
  }
}

/** Every member with its role, address and (on the leader) match index. */
export function membersOf(raft: RaftStatus, self: NodeId): MemberInfo[] {
  const { voters, learners, addresses } = raft.confState;
  return [...voters, ...learners]
    .sort((a, b) => a - b)
    .map((id) => ({
      id,
      address: addresses?.[id] ?? '',
      voter: voters.includes(id),
      matchIndex: (id === self ? raft.lastIndex : (raft.peers.find((p) => p.id === id)?.match ?? 0)) as LogIndex,
    }));
}

/**
 * Keeps the transport's peers equal to the members the log names (this node excluded). Until the
 * log names any voter (a node joining a cluster) the transport keeps the addresses it was given.
 */
export class PeerAddressBook {
  private conf: ConfState | undefined;
  private dialed = new Map<NodeId, string>();

  constructor(
    private readonly transport: NodeTransport,
    private readonly self: NodeId,
    initial: ReadonlyMap<NodeId, string>,
  ) {
    for (const [id, address] of initial) {
      if (id === self) continue;
      this.dialed.set(id, address);
      transport.addPeer(id, address);
    }
  }

  /** Call with the core's configuration whenever it may have changed: cheap when it did not. */
  sync(conf: ConfState): void {
    if (conf === this.conf) return;
    this.conf = conf;
    if (conf.voters.length === 0) return;
    const wanted = new Map<NodeId, string>();
    for (const id of [...conf.voters, ...conf.learners]) {
      const address = conf.addresses?.[id];
      if (id !== this.self && address !== undefined) wanted.set(id, address);
    }
    for (const id of this.dialed.keys()) if (!wanted.has(id)) this.transport.removePeer(id);
    for (const [id, address] of wanted) if (this.dialed.get(id) !== address) this.transport.addPeer(id, address);
    this.dialed = wanted;
  }

  /** The client address of `id` as far as this node knows (for NOT_LEADER redirects). */
  addressOf(id: NodeId): string | undefined {
    return this.conf?.addresses?.[id] ?? this.dialed.get(id);
  }
}
