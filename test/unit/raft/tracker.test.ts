import { describe, expect, it } from 'vitest';
import type { LogIndex, NodeId } from '../../../src/raft/index.js';
import { committedIndex, quorumSize, voteResult } from '../../../src/raft/quorum.js';
import { Inflights, Progress } from '../../../src/raft/tracker.js';

const i = (x: number): LogIndex => x as LogIndex;
const n = (x: number): NodeId => x as NodeId;

describe('Inflights', () => {
  it('is full by message count or by bytes, and frees acknowledged messages', () => {
    const w = new Inflights(3, 100);
    w.add(i(1), 10);
    w.add(i(2), 10);
    expect(w.full()).toBe(false);
    w.add(i(5), 10);
    expect(w.full()).toBe(true);
    w.freeLE(i(2));
    expect([w.count, w.totalBytes, w.full()]).toEqual([1, 10, false]);
    w.add(i(6), 95);
    expect(w.full()).toBe(true);
    w.freeFirstOne();
    expect([w.count, w.totalBytes]).toEqual([1, 95]);
  });

  it('refuses out-of-order indexes and a full window', () => {
    const w = new Inflights(1, 100);
    w.add(i(3), 1);
    expect(() => w.add(i(4), 1)).toThrow(/window full: 1 messages \(max 1\)/);
    const v = new Inflights(5, 100);
    v.add(i(3), 1);
    expect(() => v.add(i(3), 1)).toThrow(/in-flight index 3 not after 3/);
  });
});

describe('Progress', () => {
  it('probe sends one message at a time; replicate advances next optimistically', () => {
    const pr = new Progress(n(2), i(5), 2, 1000, true);
    expect(pr.isPaused()).toBe(false);
    pr.sentEntries(2, i(6), 10);
    expect(pr.isPaused()).toBe(true);
    expect(pr.next).toBe(5);
    expect(pr.maybeUpdate(i(6))).toBe(true);
    pr.becomeReplicate();
    expect(pr.next).toBe(7);
    pr.sentEntries(1, i(7), 1);
    pr.sentEntries(1, i(8), 1);
    expect([pr.next, pr.isPaused()]).toEqual([9, true]);
  });

  it('ignores stale rejections and jumps back to the hint otherwise', () => {
    const pr = new Progress(n(2), i(10), 8, 1000, true);
    expect(pr.maybeDecrTo(i(7), i(3))).toBe(false); // we probed at 9, not 7
    expect(pr.maybeDecrTo(i(9), i(3))).toBe(true);
    expect(pr.next).toBe(4);
    pr.maybeUpdate(i(4));
    pr.becomeReplicate();
    pr.sentEntries(3, i(7), 3);
    expect(pr.maybeDecrTo(i(4), i(1))).toBe(false); // at or below match
    expect(pr.maybeDecrTo(i(6), i(1))).toBe(true);
    expect([pr.state, pr.next]).toEqual(['probe', 5]);
  });

  it('after a snapshot resumes right after it', () => {
    const pr = new Progress(n(2), i(3), 8, 1000, true);
    pr.becomeSnapshot(i(20));
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect([pr.state, pr.next]).toEqual(['probe', 21]);
  });
});

describe('quorum', () => {
  const voters = [n(1), n(2), n(3), n(4), n(5)];
  it('commits what a majority has', () => {
    const match = new Map([[1, 9], [2, 7], [3, 7], [4, 2], [5, 0]]);
    expect(committedIndex(voters, (id) => i(match.get(id) ?? 0))).toBe(7);
    expect(committedIndex([], () => i(5))).toBe(0);
    expect(quorumSize(4)).toBe(3);
  });

  it('decides elections as soon as the outcome is certain', () => {
    const votes = new Map<NodeId, boolean>([[n(1), true], [n(2), true]]);
    expect(voteResult(voters, votes)).toBe('pending');
    votes.set(n(3), true);
    expect(voteResult(voters, votes)).toBe('won');
    const against = new Map<NodeId, boolean>([[n(1), true], [n(2), false], [n(3), false], [n(4), false]]);
    expect(voteResult(voters, against)).toBe('lost');
  });
});
