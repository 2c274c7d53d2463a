/**
 * Election timers restart as in Raft's Figure 2: a higher-term vote request moves a node's term
 * but restarts its timer only if the vote is granted, and a candidate that lost keeps the timer
 * of its campaign. So a candidate whose log is behind cannot keep pushing back the timer of the
 * voter that could win (simulation finding 6: with pre-vote off, elections in two-voter and
 * divergent configurations took more than 20 election timeouts).
 */
import { describe, expect, it } from 'vitest';
import {
  NO_NODE,
  RaftCore,
  type ConfState,
  type Entry,
  type LogIndex,
  type Message,
  type NodeId,
  type Term,
} from '../../../src/raft/index.js';
import { normalEntry, removalEntry, seeded } from './network.js';

const n = (id: number): NodeId => id as NodeId;
const ELECTION_TIMEOUT_TICKS = 10;



const TWO_VOTERS: ConfState = { voters: [n(2), n(3)], learners: [] };

/**
 * Node `id` at `term` holding `entries` (entry 1 committed), bootstrapped as `bootstrap`;
 * random() = 0 makes every timeout exactly 10 ticks.
 */
function voter(id: number, entries: Entry[], random: () => number = () => 0, bootstrap = TWO_VOTERS, term = 1): RaftCore {
  return new RaftCore(
    { id: n(id), random, electionTimeoutTicks: ELECTION_TIMEOUT_TICKS, preVote: false },
    {
      hardState: { term: term as Term, vote: NO_NODE, commit: 1 as LogIndex },
      entries,
      bootstrapConfState: bootstrap,
      applied: 1 as LogIndex,
    },
  );
}

const AHEAD = (): Entry[] => [normalEntry(1, 1), normalEntry(2, 1)];
const BEHIND = (): Entry[] => [normalEntry(1, 1)];

/** Ticks `core` until its term moves (bounded); returns the ticks it took. */
function ticksUntilNewTerm(core: RaftCore, ticksMax: number): number {
  const term = core.status().term;
  for (let i = 1; i <= ticksMax; i++) {
    core.tick();
    if (core.status().term !== term) return i;
  }
  return Infinity;
}

/** Steps a vote request of `term` from node 2 and returns node 3's answer. */
function voteRequest(core: RaftCore, term: number, lastIndex: number): Message {
  core.step({ type: 'vote', from: n(2), to: n(3), term: term as Term, index: lastIndex as LogIndex, logTerm: 1 as Term });
  const rd = core.ready();
  core.advance(rd);
  const answers = rd.messages.filter((m) => m.type === 'voteResponse' && m.to === 2);
  expect(answers).toHaveLength(1);
  return answers[0] as Message;
}

describe('election timers restart as in Raft’s Figure 2', () => {
  it('keeps a follower’s timer when it refuses a candidate whose log is behind', () => {
    const core = voter(3, AHEAD());
    for (let i = 0; i < ELECTION_TIMEOUT_TICKS - 1; i++) core.tick();
    expect(core.status()).toMatchObject({ role: 'follower', term: 1 });
    expect(voteRequest(core, 5, 1)).toMatchObject({ term: 5, reject: true });
    expect(core.status()).toMatchObject({ role: 'follower', term: 5, vote: NO_NODE });
    // Its timeout was one tick away: it still is (it would wait 10 more ticks if the term
    // change had restarted the timer).
    expect(ticksUntilNewTerm(core, 3 * ELECTION_TIMEOUT_TICKS)).toBe(1);
    expect(core.status()).toMatchObject({ role: 'candidate', term: 6, vote: 3 });
  });

  it('keeps a candidate’s timer too', () => {
    const core = voter(3, AHEAD());
    expect(ticksUntilNewTerm(core, ELECTION_TIMEOUT_TICKS)).toBe(ELECTION_TIMEOUT_TICKS);
    expect(core.status()).toMatchObject({ role: 'candidate', term: 2, vote: 3 });
    for (let i = 0; i < ELECTION_TIMEOUT_TICKS - 1; i++) core.tick();
    expect(voteRequest(core, 3, 1)).toMatchObject({ term: 3, reject: true });
    expect(core.status()).toMatchObject({ role: 'follower', term: 3, vote: NO_NODE });
    expect(ticksUntilNewTerm(core, 3 * ELECTION_TIMEOUT_TICKS)).toBe(1);
  });

  it('restarts the timer when it grants the vote', () => {
    const core = voter(3, AHEAD());
    for (let i = 0; i < ELECTION_TIMEOUT_TICKS - 1; i++) core.tick();
    expect(voteRequest(core, 5, 2)).toMatchObject({ term: 5, reject: false });
    expect(core.status()).toMatchObject({ role: 'follower', term: 5, vote: 2 });
    expect(ticksUntilNewTerm(core, 3 * ELECTION_TIMEOUT_TICKS)).toBe(ELECTION_TIMEOUT_TICKS);
  });

  it('keeps a candidate’s timer when it loses its election', () => {
    const core = voter(3, AHEAD());
    expect(ticksUntilNewTerm(core, ELECTION_TIMEOUT_TICKS)).toBe(ELECTION_TIMEOUT_TICKS);
    core.advance(core.ready());
    for (let i = 0; i < ELECTION_TIMEOUT_TICKS - 1; i++) core.tick();
    // The only other voter refuses: the election is lost, a tick before it would time out.
    core.step({ type: 'voteResponse', from: n(2), to: n(3), term: 2 as Term, reject: true });
    expect(core.status()).toMatchObject({ role: 'follower', term: 2, vote: 3 });
    expect(ticksUntilNewTerm(core, 3 * ELECTION_TIMEOUT_TICKS)).toBe(1);
  });

  it('elects the up-to-date voter of a two-voter configuration promptly (pre-vote off, slow links)', () => {
    // The end state of simulation seeds 186 and 232 (3-node membership profile, pre-vote off):
    // configuration {2,3}, 3's log one entry ahead, so only 3 can win; one-way delays of 1-4
    // ticks. 2 times out, takes a new term and asks 3, which refuses; when that request also
    // restarted 3's timer, 3 rarely timed out before 2 again, so elections took many rounds
    // (9 of these 300 seeds needed more than 20 election timeouts before the fix).
    const slow: number[] = [];
    for (let seed = 1; seed <= 300; seed++) {
      const cores = [voter(2, BEHIND(), seeded(seed * 1000 + 2)), voter(3, AHEAD(), seeded(seed * 1000 + 3))];
      if (ticksToElect(seed, cores, 20 * ELECTION_TIMEOUT_TICKS, 3) === Infinity) slow.push(seed);
    }
    expect(slow).toEqual([]);
  });

  it('elects the only possible leader when a behind candidate never asks it (pre-vote off, slow links)', () => {
    // The end state of simulation seed 1993: 2 holds `removeNode 2` (configuration {1,3}) and the
    // longest log, so it may not campaign and refuses everyone; 1 holds an older `removeNode 3`
    // (configuration {1,2}), asks only 2, and can never win; 3 (configuration {1,2,3}) can win,
    // with 1's vote. 1 never tells 3 its term, so 3 can win only by timing out before 1 does.
    // Both take one term per round, so 3 always asks at a term 1 has already voted in. When a
    // lost election restarted the candidate's timer, 3 restarted later each round (it waits for
    // two refusals, 1 for one) and rarely timed out first: 66 of these 300 seeds needed more than
    // 20 election timeouts before the fix, and as many with only its vote-request half.
    const bootstrap: ConfState = { voters: [n(1), n(2), n(3)], learners: [] };
    const slow: number[] = [];
    for (let seed = 1; seed <= 300; seed++) {
      const cores = [
        voter(1, [normalEntry(1, 1), removalEntry(2, 1, 3)], seeded(seed * 1000 + 1), bootstrap, 2),
        voter(2, [normalEntry(1, 1), normalEntry(2, 2), removalEntry(3, 2, 2)], seeded(seed * 1000 + 2), bootstrap, 2),
        voter(3, [normalEntry(1, 1), normalEntry(2, 2)], seeded(seed * 1000 + 3), bootstrap, 2),
      ];
      expect(cores.map((c) => c.status().confState.voters)).toEqual([[1, 2], [1, 3], [1, 2, 3]]);
      if (ticksToElect(seed, cores, 20 * ELECTION_TIMEOUT_TICKS, 3) === Infinity) slow.push(seed);
    }
    expect(slow).toEqual([]);
  });
});

/**
 * Runs `list` over links with seeded one-way delays of 1-4 ticks until a leader is elected
 * (it must be `expected`); returns the ticks it took, or Infinity after `ticksMax`.
 */
function ticksToElect(seed: number, list: RaftCore[], ticksMax: number, expected: number): number {
  const cores = new Map<number, RaftCore>(list.map((c) => [c.status().id, c]));
  const delay = seeded(seed);
  let inFlight: { at: number; m: Message }[] = [];
  const flush = (now: number): void => {
    for (const core of cores.values()) {
      if (!core.hasReady()) continue;
      const rd = core.ready();
      for (const m of rd.messages) inFlight.push({ at: now + 1 + Math.floor(delay() * 4), m });
      core.advance(rd);
    }
  };
  for (let now = 1; now <= ticksMax; now++) {
    for (const core of cores.values()) core.tick();
    flush(now);
    const due = inFlight.filter((f) => f.at <= now);
    inFlight = inFlight.filter((f) => f.at > now);
    for (const { m } of due) {
      cores.get(m.to)?.step(m);
      flush(now);
    }
    const leaders = [...cores.values()].filter((c) => c.status().role === 'leader');
    if (leaders.length > 0) {
      expect(leaders.map((c) => c.status().id)).toEqual([expected]);
      return now;
    }
  }
  return Infinity;
}
