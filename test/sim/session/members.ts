/**
 * The membership workload of the simulation of real nodes, as an operator would run it through
 * the node's API: add a new node as a learner, promote a caught-up learner, remove a member (a
 * follower, a learner, sometimes the leader itself), replace a voter (remove it, stop it for
 * good, add a new id as a learner, promote it). Every change is chosen against the
 * configuration of the node it is sent to, at the moment it is sent (changeMembership proposes
 * synchronously), so each configuration any log can hold stays within the bounds below.
 */
import { NodeError, type MemberChange, type NodeErrorCode } from '../../../src/node/index.js';
import type { NodeId, RaftStatus } from '../../../src/raft/index.js';
import type { Prng } from '../prng.js';

export interface MemberBounds {
  /** The workload never proposes a removal that leaves fewer voters. */
  readonly votersMin: number;
  /** Nor an addition that makes more members (voters and learners). */
  readonly membersMax: number;
  /** A learner is promoted only within this many entries of the leader's last index. */
  readonly promoteLagEntriesMax: number;
}

/** What the workload asks for; `replace` is a removal whose member is then stopped for good. */
export type MemberStep = { readonly change: MemberChange; readonly replace: boolean };

/**
 * The errors changeMembership and transferLeadership document: the operator retries later.
 * TIMEOUT and SHUTTING_DOWN come with the call's deadline and a stopping node; anything else
 * (INVALID_ARGUMENT for a change the workload built valid, a RangeError from the core) is a bug.
 */
const DOCUMENTED: ReadonlySet<NodeErrorCode> = new Set([
  'NOT_LEADER',
  'FAILED_PRECONDITION',
  'ALREADY_EXISTS',
  'NOT_FOUND',
  'OUTCOME_UNKNOWN',
  'TIMEOUT',
  'SHUTTING_DOWN',
  'OVERLOADED',
  'PROPOSAL_DROPPED',
]);

export function isDocumentedMemberError(error: unknown): boolean {
  return error instanceof NodeError && DOCUMENTED.has(error.code);
}

/**
 * One change valid against `raft` (the configuration of the node it goes to), or undefined.
 * `spare`: a started node not (or no longer) in the configuration, to add before a new id;
 * `newId` takes a fresh id (undefined when the workload may create no more nodes);
 * `owedAdds`: replacements whose new member is still to be added (an add goes first).
 */
export function pickMemberChange(
  rng: Prng,
  raft: RaftStatus,
  bounds: MemberBounds,
  options: { spare: NodeId | undefined; newId: (() => NodeId) | undefined; owedAdds: number; addressOf: (id: NodeId) => string },
): MemberStep | undefined {
  const { voters, learners } = raft.confState;
  const members = voters.length + learners.length;
  const kinds: ('add' | 'promote' | 'remove' | 'replace')[] = [];
  const canAdd = members < bounds.membersMax && (options.spare !== undefined || options.newId !== undefined);
  if (canAdd) kinds.push('add');
  if (learners.length > 0) kinds.push('promote');
  if (voters.length > bounds.votersMin || learners.length > 0) kinds.push('remove');
  if (voters.length > bounds.votersMin) kinds.push('replace');
  if (kinds.length === 0) return undefined;
  const kind = options.owedAdds > 0 && canAdd ? 'add' : rng.pick(kinds);
  switch (kind) {
    case 'add': {
      const id = options.spare ?? options.newId!();
      return { change: { type: 'add', id, address: options.addressOf(id), learner: true }, replace: false };
    }
    case 'promote': {
      // Mostly a learner that has caught up; sometimes one that has not (refused: FAILED_PRECONDITION).
      const caughtUp = learners.filter((id) => {
        const peer = raft.peers.find((p) => p.id === id);
        return peer !== undefined && peer.state === 'replicate' && peer.match > 0 && raft.lastIndex - peer.match <= bounds.promoteLagEntriesMax;
      });
      const id = caughtUp.length > 0 && rng.chance(0.9) ? rng.pick(caughtUp) : rng.pick(learners);
      return { change: { type: 'promote', id }, replace: false };
    }
    case 'remove':
    case 'replace': {
      const removable = voters.length > bounds.votersMin ? [...voters, ...(kind === 'remove' ? learners : [])] : [...learners];
      const self = raft.id;
      const id = removable.includes(self) && rng.chance(0.25) ? self : rng.pick(removable);
      return { change: { type: 'remove', id }, replace: kind === 'replace' };
    }
  }
}
