/** Majority quorums over the voters of one configuration (no joint consensus: §4.1 changes). */
import type { LogIndex, NodeId } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index acknowledged by a majority of `voters`; `match(id)` is what each voter
 * has durably. With no voters nothing is committed (0).
 */
export function committedIndex(voters: readonly NodeId[], match: (id: NodeId) => LogIndex): LogIndex {
  if (voters.length === 0) return 0 as LogIndex;
  const indexes = voters.map(match).sort((a, b) => b - a);
  return indexes[quorumSize(voters.length) - 1] as LogIndex;
}

/** Election outcome given granted/rejected votes (absent voters have not answered yet). */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'lost';
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    if (vote === false) rejected++;
  }
  const quorum = quorumSize(voters.length);
  if (granted >= quorum) return 'won';
  if (voters.length - rejected < quorum) return 'lost';
  return 'pending';
}
