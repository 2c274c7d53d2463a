/**
 * A candidate that voted for itself restarts its election timer when a candidate with a
 * strictly more up-to-date log asks for its vote in the same term (simulation finding 3,
 * seed 191: a livelock with pre-vote off).
 */
import { describe, expect, it } from 'vitest';
import {
  NO_NODE,
  RaftCore,
  type LogIndex,
  type NodeId,
  type Term,
} from '../../../src/raft/index.js';
import { Network, normalEntry, removalEntry, type Disk } from './network.js';

const n = (id: number): NodeId => id as NodeId;
const ELECTION_TIMEOUT_TICKS = 10;



/** Node 3 of {1,2,3} with one entry of term 1; random() = 0 makes every timeout exactly 10 ticks. */
function staleVoter(): RaftCore {
  return new RaftCore(
    { id: n(3), random: () => 0, electionTimeoutTicks: ELECTION_TIMEOUT_TICKS, preVote: false },
    {
      hardState: { term: 1 as Term, vote: NO_NODE, commit: 1 as LogIndex },
      entries: [normalEntry(1, 1)],
      bootstrapConfState: { voters: [n(1), n(2), n(3)], learners: [] },
      applied: 1 as LogIndex,
    },
  );
}

/** Ticks `core` until its term moves (bounded); returns the ticks it took. */
function ticksUntilNewTerm(core: RaftCore, ticksMax: number): number {
  const term = core.status().term;
  for (let i = 1; i <= ticksMax; i++) {
    core.tick();
    if (core.status().term !== term) return i;
  }
  return Infinity;
}

/** A self-voted candidate at term 2 whose timer has run 9 of its 10 ticks. */
function candidateAboutToTimeOut(): RaftCore {
  const core = staleVoter();
  expect(ticksUntilNewTerm(core, ELECTION_TIMEOUT_TICKS)).toBe(ELECTION_TIMEOUT_TICKS);
  expect(core.status()).toMatchObject({ role: 'candidate', term: 2, vote: 3 });
  for (let i = 0; i < ELECTION_TIMEOUT_TICKS - 1; i++) core.tick();
  expect(core.status().term).toBe(2);
  return core;
}

function voteRequest(core: RaftCore, lastIndex: number, lastTerm: number): void {
  core.step({ type: 'vote', from: n(1), to: n(3), term: 2 as Term, index: lastIndex as LogIndex, logTerm: lastTerm as Term });
  const answers = core.ready().messages.filter((m) => m.type === 'voteResponse' && m.to === 1);
  expect(answers).toMatchObject([{ term: 2, reject: true }]);
}

describe('a self-voted candidate yields its timer to a better candidate', () => {
  it('restarts the election timer on a same-term vote request with a longer log', () => {
    const core = candidateAboutToTimeOut();
    voteRequest(core, 2, 1);
    expect(core.status()).toMatchObject({ term: 2, vote: 3 }); // refused: term and vote unchanged
    // It waits a whole timeout again instead of taking term 3 on the next tick.
    expect(ticksUntilNewTerm(core, 3 * ELECTION_TIMEOUT_TICKS)).toBe(ELECTION_TIMEOUT_TICKS);
  });

  it('restarts the election timer on a same-term vote request with a newer last term', () => {
    const core = candidateAboutToTimeOut();
    voteRequest(core, 1, 2);
    expect(ticksUntilNewTerm(core, 3 * ELECTION_TIMEOUT_TICKS)).toBe(ELECTION_TIMEOUT_TICKS);
  });

  it('keeps its timer on a request from an equally up-to-date candidate (an ordinary split vote)', () => {
    const core = candidateAboutToTimeOut();
    voteRequest(core, 1, 1);
    expect(ticksUntilNewTerm(core, 3 * ELECTION_TIMEOUT_TICKS)).toBe(1);
  });

  it('elects a leader when a stale voter in an older configuration always campaigns in vain (pre-vote off)', () => {
    // The end state of simulation seed 191: 1 and 2 hold `removeNode 2` (configuration {1,3});
    // 3 holds an older, conflicting `removeNode 1` (configuration {2,3}). 2 may not campaign;
    // 3 can never win (2 refuses its older log) and never asks 1; 1 needs 3's vote. Before the
    // fix 3's timer ran free of 1's, so whenever 3 timed out first it took the next term with
    // its self-vote and 1's request arrived at that same term, refused: many seeds took longer
    // than 20 election timeouts (15 of these 200 before the fix).
    const ahead: Disk = {
      hardState: { term: 2 as Term, vote: NO_NODE, commit: 1 as LogIndex },
      entries: [normalEntry(1, 1), normalEntry(2, 2), removalEntry(3, 2, 2)],
      applied: 0 as LogIndex,
    };
    const behind: Disk = {
      hardState: { term: 2 as Term, vote: NO_NODE, commit: 1 as LogIndex },
      entries: [normalEntry(1, 1), removalEntry(2, 1, 1)],
      applied: 0 as LogIndex,
    };
    const slow: number[] = [];
    for (let seed = 1; seed <= 200; seed++) {
      const net = new Network({
        voters: [1, 2, 3],
        seed,
        raft: { electionTimeoutTicks: ELECTION_TIMEOUT_TICKS, preVote: false },
        disks: { 1: ahead, 2: ahead, 3: behind },
      });
      expect(net.node(3).status().confState.voters).toEqual([2, 3]);
      expect(net.node(1).status().confState.voters).toEqual([1, 3]);
      let ticks = 0;
      while (net.leaders().length === 0 && ticks < 20 * ELECTION_TIMEOUT_TICKS) {
        net.tick(1);
        ticks++;
      }
      if (net.leaders().length === 0) slow.push(seed);
      else expect(net.leaders()).toEqual([1]);
    }
    expect(slow).toEqual([]);
  });
});
