/**
 * SessionNode in-process on real LevelDB: a one-node cluster, so the loop, persistence, apply,
 * restart recovery, snapshots and the waiters are tested without other processes.
 */
import { describe, expect, it } from 'vitest';
import { NotLeaderError, TimeoutError, type SessionNode } from '../../../src/node/index.js';
import type { LogIndex, NodeId, Term } from '../../../src/raft/index.js';
import { encodeCommand, type SessionCommand } from '../../../src/session/index.js';
import { openLevelStorage } from '../../../src/storage/index.js';
import { bootstrapLog } from '../../../src/node/membership.js';
import { oneNodeOptions, openOneNode, tempDir } from './helpers.js';

async function untilLeader(node: SessionNode): Promise<void> {
  for (let i = 0; i < 400 && node.status().raft.role !== 'leader'; i++) await new Promise((r) => setTimeout(r, 5));
  expect(node.status().raft.role).toBe('leader');
}

function sessionIdOf(i: number): string {
  return `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
}

function create(i: number): SessionCommand {
  return {
    type: 'create',
    sessionId: sessionIdOf(i),
    clientId: `client-${i % 3}`,
    transport: 'http',
    data: { i },
    ttlMs: 3_600_000,
    maxLifetimeMs: 0,
  };
}

describe('SessionNode (one node, real LevelDB)', () => {
  it('packs the writes of one loop turn into one entry, and answers each with its own applied result', async () => {
    const node = await openOneNode(oneNodeOptions(tempDir('node')));
    await untilLeader(node);
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => node.write(create(i))));
    const indexes = outcomes.map((o) => o.index);
    // All 50 arrived in one turn: one entry holds them (more only past the batch bounds).
    expect(new Set(indexes).size).toBe(1);
    expect(outcomes.map((o) => (o.result.ok ? o.result.session?.sessionId : undefined))).toEqual(Array.from({ length: 50 }, (_, i) => sessionIdOf(i)));
    for (const outcome of outcomes) {
      expect(outcome.durability).toBe('sync');
      expect(outcome.result.ok && outcome.result.session?.version).toBe(1);
    }
    const count = await node.read((view) => view.count(Date.now()));
    expect(count).toBe(50);
  });

  it('answers an ASYNC write after its fsync, and a read with minIndex sees it', async () => {
    const node = await openOneNode(oneNodeOptions(tempDir('node')));
    await untilLeader(node);
    const outcome = await node.write(create(1), { durability: 'async' });
    expect(outcome.durability).toBe('async');
    const found = await node.read((view) => view.get(sessionIdOf(1), Date.now()), {
      consistency: 'stale',
      minIndex: outcome.index,
    });
    expect(found?.clientId).toBe('client-1');
  });

  it('answers a retried request id from the dedup table or the first request in flight, with no new entry', async () => {
    const node = await openOneNode(oneNodeOptions(tempDir('node')));
    await untilLeader(node);
    const requestId = { clientId: 'sdk-1', seq: 7 };
    const [first, concurrent] = await Promise.all([node.write(create(1), { requestId }), node.write(create(2), { requestId })]);
    expect(concurrent).toBe(first);
    const commit = node.status().raft.commit;
    const retried = await node.write(create(3), { requestId, durability: 'async' });
    expect(retried.index).toBe(first.index);
    expect(retried.result).toEqual(first.result);
    expect(node.status().raft.commit).toBe(commit);
    expect(await node.read((view) => view.count(Date.now()))).toBe(1);
  });

  it('answers a retry of a request an earlier leader logged but did not apply with the first session, not a new one', async () => {
    // The log an earlier leader left: a create with a request id, durable, never committed or applied.
    const dir = tempDir('node');
    const requestId = { clientId: 'sdk-1', seq: 1 };
    const storage = await openLevelStorage(dir);
    const bootstrap = bootstrapLog(oneNodeOptions(dir).peers);
    await storage.log.save({
      hardState: { term: 1 as Term, vote: 1 as NodeId, commit: 1 as LogIndex },
      entries: [
        ...bootstrap.entries,
        { index: 2 as LogIndex, term: 1 as Term, type: 'normal', data: encodeCommand({ command: create(1), nowMs: Date.now(), requestId }) },
      ],
    });
    await storage.close();

    // The client retries (new session id in the command, same request id) as soon as the node leads.
    const node = await openOneNode(oneNodeOptions(dir));
    let outcome: Awaited<ReturnType<SessionNode['write']>> | undefined;
    for (let attempt = 0; outcome === undefined; attempt++) {
      expect(attempt, 'the node never took the write').toBeLessThan(100_000);
      try {
        outcome = await node.write(create(2), { requestId, durability: 'async' });
      } catch (error) {
        if (!(error instanceof NotLeaderError)) throw error;
        await new Promise((r) => setImmediate(r));
      }
    }
    expect(outcome.index).toBe(2);
    expect(outcome.result).toMatchObject({ ok: true, session: { sessionId: sessionIdOf(1) } });
    expect(await node.read((view) => view.get(sessionIdOf(2), Date.now()), { consistency: 'stale', minIndex: node.status().raft.commit })).toBeUndefined();
    expect(await node.read((view) => view.count(Date.now()))).toBe(1);
  });

  it('recovers term, log and state after a restart, with the same digest', async () => {
    const dir = tempDir('node');
    const first = await openOneNode(oneNodeOptions(dir));
    await untilLeader(first);
    for (let i = 0; i < 30; i++) await first.write(create(i));
    const before = first.status();
    await first.stop({ transferLeadership: false });

    const second = await openOneNode(oneNodeOptions(dir));
    expect(second.status().appliedIndex).toBe(before.appliedIndex);
    expect(second.status().stateDigest).toBe(before.stateDigest);
    await untilLeader(second);
    expect(second.status().raft.term).toBeGreaterThan(before.raft.term);
    expect(await second.read((view) => view.count(Date.now()))).toBe(30);
  });

  it('takes snapshots and compacts the log, and recovers from snapshot + log', async () => {
    const dir = tempDir('node');
    const first = await openOneNode(oneNodeOptions(dir, { snapshotEntriesThreshold: 10 }));
    await untilLeader(first);
    for (let i = 0; i < 45; i++) await first.write(create(i));
    await new Promise((r) => setTimeout(r, 50));
    expect(first.status().raft.firstIndex).toBeGreaterThan(1);
    const digest = first.status().stateDigest;
    await first.stop({ transferLeadership: false });
    const second = await openOneNode(oneNodeOptions(dir, { snapshotEntriesThreshold: 10 }));
    expect(second.status().stateDigest).toBe(digest);
  });

  it('refuses a write before it leads with NotLeaderError, and times a read out with TimeoutError', async () => {
    const node = await openOneNode(
      oneNodeOptions(tempDir('node'), {
        peers: new Map([
          [1 as NodeId, '127.0.0.1:1'],
          [2 as NodeId, '127.0.0.1:2'],
          [3 as NodeId, '127.0.0.1:3'],
        ]),
      }),
    );
    await expect(node.write(create(1))).rejects.toBeInstanceOf(NotLeaderError);
    await expect(node.read(() => 1, { consistency: 'stale', minIndex: 1_000 as never, deadlineMs: 50 })).rejects.toBeInstanceOf(
      TimeoutError,
    );
  });

  it('under concurrent writes, Status and STALE reads describe exactly the state at the index they report', async () => {
    const node = await openOneNode(oneNodeOptions(tempDir('node')));
    await untilLeader(node);
    await Promise.all(Array.from({ length: 6 }, (_, w) => node.write(create(w))));
    const digestAt = new Map<number, string>();
    const writtenIndex = new Map<string, number>();
    const mismatches: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { appliedIndex, stateDigest } = node.status();
        const seen = digestAt.get(appliedIndex);
        if (seen !== undefined && seen !== stateDigest) mismatches.push(`index ${appliedIndex}: ${seen} then ${stateDigest}`);
        digestAt.set(appliedIndex, stateDigest);
        // A STALE read's index is the index of the state it shows: the versions it sees were
        // written at or below it.
        const seenAt = await node.read((view, appliedIndex) => ({ appliedIndex, versions: [0, 1, 2, 3, 4, 5].map((w) => view.get(sessionIdOf(w), 0)?.version ?? 0) }), {
          consistency: 'stale',
        });
        for (const [w, version] of seenAt.versions.entries()) {
          const writtenAt = writtenIndex.get(`${w}/${version}`);
          if (writtenAt !== undefined && writtenAt > seenAt.appliedIndex) {
            mismatches.push(`session ${w} version ${version} (written at ${writtenAt}) shown at index ${seenAt.appliedIndex}`);
          }
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await Promise.all(
      Array.from({ length: 6 }, async (_, w) => {
        for (let i = 0; i < 60; i++) {
          const outcome = await node.write({ type: 'touch', sessionId: sessionIdOf(w) });
          if (outcome.result.ok) writtenIndex.set(`${w}/${outcome.result.session!.version}`, outcome.index);
        }
      }),
    );
    sampling = false;
    await sampler;
    expect(digestAt.size).toBeGreaterThan(10);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});
