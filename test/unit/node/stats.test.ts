/**
 * NodeStats: the histogram buckets, the failure reasons, and what a one-node SessionNode on real
 * LevelDB counts in it (commits, failures, fsync and apply timings, snapshots, expirations).
 */
import { describe, expect, it } from 'vitest';
import {
  DurationHistogram,
  NodeError,
  NodeStats,
  NotLeaderError,
  OutcomeUnknownError,
  OverloadedError,
  ProposalDroppedError,
  ShuttingDownError,
  TimeoutError,
  proposalFailureReason,
  type NodeOptions,
  type SessionNode,
} from '../../../src/node/index.js';
import type { NodeId } from '../../../src/raft/index.js';
import type { SessionCommand } from '../../../src/session/index.js';
import { oneNodeOptions, openOneNode, tempDir } from './helpers.js';

async function open(overrides: Partial<NodeOptions> = {}): Promise<SessionNode> {
  return openOneNode(oneNodeOptions(tempDir('stats'), overrides));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition(), what).toBe(true);
}

function create(i: number, ttlMs = 3_600_000): SessionCommand {
  return {
    type: 'create',
    sessionId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    clientId: 'client',
    transport: 'http',
    data: { i },
    ttlMs,
    maxLifetimeMs: 0,
  };
}

describe('DurationHistogram', () => {
  it('puts each observation in the first bucket whose bound is at least it, the rest in +Inf', () => {
    const histogram = new DurationHistogram([0.1, 1]);
    for (const seconds of [0.05, 0.1, 0.5, 1, 3, -1]) histogram.observe(seconds);
    expect(histogram.counts).toEqual([3, 2, 1]); // -1 counts as 0
    expect(histogram.count).toBe(6);
    expect(histogram.sumSeconds).toBeCloseTo(4.65);
  });

  it('refuses bounds that do not increase', () => {
    expect(() => new DurationHistogram([])).toThrow(RangeError);
    expect(() => new DurationHistogram([1, 1])).toThrow(/increase/);
  });
});

describe('NodeStats', () => {
  it('names the reason of each failed write', () => {
    expect(proposalFailureReason(new NotLeaderError(0 as NodeId, undefined))).toBe('not_leader');
    expect(proposalFailureReason(new OverloadedError('pendingWritesMax', 1))).toBe('overloaded');
    expect(proposalFailureReason(new ProposalDroppedError('replaced'))).toBe('dropped');
    expect(proposalFailureReason(new TimeoutError('write', 5))).toBe('timeout');
    expect(proposalFailureReason(new OutcomeUnknownError('lost'))).toBe('outcome_unknown');
    expect(proposalFailureReason(new ShuttingDownError())).toBe('shutting_down');
    expect(proposalFailureReason(new DOMException('gone', 'AbortError'))).toBe('cancelled');
    expect(proposalFailureReason(new NodeError('INVALID_ARGUMENT', 'bad'))).toBe('other');
  });

  it('times a heartbeat to its response per peer, and forgets unanswered ones when leadership is lost', () => {
    let nowMs = 0;
    const stats = new NodeStats(() => 0, () => nowMs);
    stats.heartbeatSent(2 as NodeId);
    nowMs = 3;
    stats.heartbeatAnswered(2 as NodeId);
    stats.heartbeatAnswered(2 as NodeId); // no heartbeat outstanding: not counted
    stats.heartbeatSent(3 as NodeId);
    stats.leadershipLost();
    stats.heartbeatAnswered(3 as NodeId);
    expect([...stats.peerRoundTrip.keys()]).toEqual([2]);
    expect(stats.peerRoundTrip.get(2 as NodeId)!.count).toBe(1);
    expect(stats.peerRoundTrip.get(2 as NodeId)!.sumSeconds).toBeCloseTo(0.003);
  });
});

describe('SessionNode.stats (one node, real LevelDB)', () => {
  it('counts commands committed, fsyncs and applies timed, and writes failed by reason', async () => {
    const node = await open();
    await until(() => node.status().raft.role === 'leader', 'node 1 leads');
    await Promise.all([node.write(create(1)), node.write(create(2)), node.write(create(3))]);
    const stats = node.stats;
    expect(stats.proposalsCommitted).toBe(3);
    expect(stats.pendingProposals()).toBe(0);
    expect(stats.appendFsync.count).toBeGreaterThan(0);
    expect(stats.apply.count).toBeGreaterThan(0);
    expect(stats.apply.counts.reduce((a, b) => a + b, 0)).toBe(stats.apply.count);
    // A rejected command (already exists) is a committed proposal, not a failed one.
    const again = await node.write(create(1));
    expect(again.result.ok).toBe(false);
    expect(stats.proposalsCommitted).toBe(4);
    await expect(node.write(create(9), { deadlineMs: 1, signal: AbortSignal.abort() })).rejects.toThrow();
    expect(stats.proposalsFailed.cancelled).toBe(1);
    expect(Object.values(stats.proposalsFailed).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('counts a write refused before this node leads as not_leader', async () => {
    const node = await open({
      peers: new Map([
        [1 as NodeId, '127.0.0.1:1'],
        [2 as NodeId, '127.0.0.1:2'],
        [3 as NodeId, '127.0.0.1:3'],
      ]),
    });
    await expect(node.write(create(1))).rejects.toBeInstanceOf(NotLeaderError);
    expect(node.stats.proposalsFailed.not_leader).toBe(1);
  });

  it('counts snapshots taken with their size, and sessions the sweep expired', async () => {
    const node = await open({ snapshotEntriesThreshold: 10, expirySweepIntervalMs: 10 });
    await until(() => node.status().raft.role === 'leader', 'node 1 leads');
    for (let i = 0; i < 25; i++) await node.write(create(i, i < 3 ? 1_000 : 3_600_000)); // 1 s: the shortest TTL
    await until(() => node.stats.snapshotsTaken > 0, 'a snapshot taken');
    expect(node.stats.snapshotLastBytes).toBeGreaterThan(0);
    expect(node.stats.snapshotTake.count).toBe(node.stats.snapshotsTaken);
    await until(() => node.stats.sessionsExpired === 3, 'the three 1 s sessions expired');
    expect(node.stats.snapshotsInstalled).toBe(0);
  });
});
