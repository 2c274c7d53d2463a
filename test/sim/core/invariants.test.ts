/**
 * Each invariant check must be able to fail: hand-made traces that break one property each,
 * and a clean trace that breaks none.
 */
import { describe, expect, it } from 'vitest';
import type { Entry, HardState, Message, Term } from '../../../src/raft/index.js';
import { NO_NODE, logIndex, nodeId, term } from '../../../src/raft/index.js';
import { InvariantChecker, type InvariantName, type LogView, type ObservedStatus } from './invariants.js';

const enc = new TextEncoder();
const e = (index: number, t: number, data = `d${index}.${t}`): Entry => ({
  index: logIndex(index),
  term: term(t),
  type: 'normal',
  data: enc.encode(data),
});

/** A log given as the terms of entries 1..n (no snapshot). */
function logOf(terms: number[], snapshotIndex = 0): LogView {
  return {
    snapshotIndex: logIndex(snapshotIndex),
    lastIndex: logIndex(snapshotIndex + terms.length),
    termAt: (i: number): Term | undefined => (i === 0 ? term(0) : i <= snapshotIndex ? undefined : (terms[i - snapshotIndex - 1] as Term | undefined)),
  };
}

const st = (role: ObservedStatus['role'], t: number, vote = 0, commit = 0): ObservedStatus => ({
  role,
  term: term(t),
  vote: nodeId(vote),
  commit: logIndex(commit),
});
const hs = (t: number, vote: number, commit: number): HardState => ({ term: term(t), vote: nodeId(vote), commit: logIndex(commit) });

function only(checker: InvariantChecker): InvariantName[] {
  return checker.violations.map((v) => v.invariant);
}

describe('InvariantChecker', () => {
  it('accepts a clean trace', () => {
    const c = new InvariantChecker();
    c.observeStatus(1, 1, st('leader', 1, 1, 0), logOf([]));
    c.observePersist(1, 'leader', { entries: [e(1, 1), e(2, 1)], hardState: hs(1, 1, 0) }, logOf([]), hs(1, 1, 0));
    c.observeSent({ type: 'append', from: nodeId(1), to: nodeId(2), term: term(1), index: logIndex(0), logTerm: term(0), entries: [e(1, 1), e(2, 1)] });
    c.observePersist(2, 'follower', { entries: [e(1, 1), e(2, 1)] }, logOf([]), hs(1, 1, 0));
    c.observeApplied(1, e(1, 1), 'h1');
    c.observeApplied(2, e(1, 1), 'h1');
    c.observeStatus(2, 1, st('follower', 1, 1, 1), logOf([1, 1]));
    c.observeStatus(2, 1, st('leader', 2, 2, 1), logOf([1, 1]));
    expect(c.violations).toEqual([]);
    expect(c.ok).toBe(true);
  });

  it('Election Safety: two leaders in one term', () => {
    const c = new InvariantChecker();
    c.observeStatus(1, 1, st('leader', 3, 1), logOf([]));
    c.observeStatus(2, 1, st('leader', 3, 2), logOf([]));
    expect(only(c)).toEqual(['electionSafety']);
    expect(c.violations[0]?.message).toContain('term 3');
  });

  it('Leader Append-Only: a leader overwrites its own entry', () => {
    const c = new InvariantChecker();
    c.observePersist(1, 'leader', { entries: [e(2, 3)] }, logOf([1, 2]), hs(3, 1, 0));
    expect(only(c)).toEqual(['leaderAppendOnly']);
  });

  it('Leader Append-Only: a leader installs a snapshot over its log', () => {
    const c = new InvariantChecker();
    c.observePersist(1, 'leader', { entries: [], snapshotIndex: logIndex(5), snapshotTerm: term(2) }, logOf([1]), hs(3, 1, 0));
    expect(only(c)).toEqual(['leaderAppendOnly']);
  });

  it('Log Matching: same index and term, different data', () => {
    const c = new InvariantChecker();
    c.observePersist(1, 'follower', { entries: [e(1, 1, 'x')] }, logOf([]), hs(1, 0, 0));
    c.observePersist(2, 'follower', { entries: [e(1, 1, 'y')] }, logOf([]), hs(1, 0, 0));
    expect(only(c)).toEqual(['logMatching']);
  });

  it('Log Matching: same index and term, different predecessors (seen in an append message)', () => {
    const c = new InvariantChecker();
    c.observePersist(1, 'follower', { entries: [e(2, 3)] }, logOf([1]), hs(3, 0, 0));
    const m: Message = { type: 'append', from: nodeId(2), to: nodeId(3), term: term(3), index: logIndex(1), logTerm: term(2), entries: [e(2, 3)] };
    c.observeSent(m);
    expect(only(c)).toEqual(['logMatching']);
  });

  it('Log Matching: terms go down along a log', () => {
    const c = new InvariantChecker();
    c.observePersist(1, 'follower', { entries: [e(2, 1)] }, logOf([2]), hs(2, 0, 0));
    expect(only(c)).toEqual(['logMatching']);
  });

  it('Leader Completeness: a new leader lacks a committed entry', () => {
    const c = new InvariantChecker();
    c.observeApplied(1, e(1, 1), 'h1');
    c.observeApplied(1, e(2, 1), 'h2');
    c.observeStatus(2, 1, st('leader', 2, 2), logOf([1]));
    expect(only(c)).toEqual(['leaderCompleteness']);
    expect(c.violations[0]?.message).toContain('committed index 2');
  });

  it('Leader Completeness: a new leader has another term at a committed index', () => {
    const c = new InvariantChecker();
    c.observeApplied(1, e(1, 2), 'h1');
    c.observeStatus(3, 1, st('leader', 4, 3), logOf([3]));
    expect(only(c)).toEqual(['leaderCompleteness']);
  });

  it('State Machine Safety: two nodes apply different entries at one index', () => {
    const c = new InvariantChecker();
    c.observeApplied(1, e(1, 1, 'x'), 'h1');
    c.observeApplied(2, e(1, 2, 'y'), 'h1');
    expect(only(c)).toContain('stateMachineSafety');
  });

  it('State Machine Safety: same entries but diverging state (e.g. a bad snapshot)', () => {
    const c = new InvariantChecker();
    c.observeApplied(1, e(1, 1), 'A');
    c.observeSnapshotRestored(2, 1, 'B');
    expect(only(c)).toEqual(['stateMachineSafety']);
  });

  it('terms and votes: the term goes back across a restart', () => {
    const c = new InvariantChecker();
    c.observeStatus(1, 1, st('follower', 5, 2), logOf([]));
    c.observeStatus(1, 2, st('follower', 4, 2), logOf([]));
    expect(only(c)).toEqual(['termVoteMonotonic']);
  });

  it('terms and votes: a vote changes within a term (forgotten, then granted again)', () => {
    const c = new InvariantChecker();
    const grant = (from: number, to: number, t: number): Message => ({ type: 'voteResponse', from: nodeId(from), to: nodeId(to), term: term(t), reject: false });
    c.observeSent(grant(1, 2, 3));
    c.observeStatus(1, 2, st('follower', 3, NO_NODE), logOf([]));
    c.observeSent(grant(1, 3, 3));
    expect(only(c)).toEqual(['termVoteMonotonic', 'termVoteMonotonic']);
  });

  it('terms and votes: a persisted term goes back', () => {
    const c = new InvariantChecker();
    c.observePersist(1, 'follower', { entries: [], hardState: hs(2, 0, 0) }, logOf([]), hs(3, 0, 0));
    expect(only(c)).toEqual(['termVoteMonotonic']);
  });

  it('commit: goes back within an incarnation, or on disk', () => {
    const c = new InvariantChecker();
    c.observeStatus(1, 1, st('follower', 1, 0, 5), logOf([]));
    c.observeStatus(1, 1, st('follower', 1, 0, 4), logOf([]));
    expect(only(c)).toEqual(['commitMonotonic']);
    c.observeStatus(1, 2, st('follower', 1, 0, 3), logOf([])); // a new incarnation may start lower
    expect(only(c)).toEqual(['commitMonotonic']);
    c.observePersist(1, 'follower', { entries: [], hardState: hs(1, 0, 2) }, logOf([]), hs(1, 0, 5));
    expect(only(c)).toEqual(['commitMonotonic', 'commitMonotonic']);
  });

  it('keeps at most violationsMax descriptions but counts them all', () => {
    const c = new InvariantChecker({ violationsMax: 2 });
    for (let t = 1; t <= 5; t++) {
      c.observeStatus(1, 1, st('leader', t, 1), logOf([]));
      c.observeStatus(2, 1, st('leader', t, 2), logOf([]));
    }
    expect(c.violations).toHaveLength(2);
    expect(c.violationCount).toBe(5);
  });
});
