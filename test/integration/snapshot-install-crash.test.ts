/**
 * A crash while a snapshot is installed, on real processes: "installed atomically (a crash
 * mid-install leaves the old state whole)", so far covered by the deterministic simulation only.
 *
 * Three nodes compact their logs every 20 entries. A follower is killed, the others take enough
 * SYNC writes (large sessions, so the snapshot takes a while to store and load) that the leader
 * compacts past everything the follower has: on restart it can only catch up by a snapshot.
 * Three rounds SIGKILL it at a different step of the install each (KILLS): the snapshot just
 * received, its file just stored (the restart then finishes the install from the file: 'finishing
 * the install of a received snapshot whose log save a crash interrupted'), the state being
 * replaced. Then it starts once more and must come up (no exit on its own: a node that cannot
 * recover exits 70), catch up, hold the leader's state (equal digests), and serve every
 * acknowledged SYNC write from its own state (STALE read, min_index). What each start found is
 * printed ('recovered: applied A, snapshot S').
 *
 * Ports: the harness's (freePorts: ones the OS just handed out), like every integration file.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionClient } from '../../src/client/index.js';
import { TestCluster, sleep } from './harness.js';

let cluster: TestCluster;
let client: SessionClient | undefined;

/** Bytes of data per session: several MB of state, so storing and loading it take a while. */
const DATA_BYTES = 15_000;
/**
 * When each round's kill comes, one per step of the install: right after the follower logs
 * 'snapshot received' (before or while it writes the snapshot file), as soon as the new snapshot
 * file is in its snapshots/ folder (before or just after the log is made to point at it), and
 * when it logs 'installing snapshot from leader' (file and log saved, the state being replaced).
 */
const KILLS: readonly Kill[] = [{ after: 'snapshot received' }, { after: 'snapshot file' }, { after: 'installing snapshot from leader' }];
type Kill = { readonly after: 'snapshot received' | 'installing snapshot from leader' | 'snapshot file' };

beforeAll(async () => {
  cluster = await TestCluster.start({ nodes: 3, nodeArgs: ['--snapshot-entries', '20'] });
  await cluster.waitForLeader();
  client = await SessionClient.connect({ endpoints: [...cluster.endpoints], retriesMax: 10, deadlineMsDefault: 15_000 });
}, 60_000);

afterAll(async () => {
  client?.close();
  await cluster?.close();
});

interface LogRecord {
  readonly msg?: string;
  readonly index?: number;
  readonly applied?: number;
  readonly snapshotIndex?: number;
}

/** Node `id`'s log lines from byte `offset` on, parsed (a partial last line is left out). */
function recordsFrom(id: number, offset: number): LogRecord[] {
  const text = readFileSync(cluster.logPath(id), 'utf8').slice(offset);
  return text
    .split('\n')
    .slice(0, -1)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogRecord];
      } catch {
        return [];
      }
    });
}

function logSize(id: number): number {
  try {
    return statSync(cluster.logPath(id)).size;
  } catch {
    return 0;
  }
}

/** Waits until node `id` logs `msg` after byte `offset`; false if it did not within `timeoutMs` or exited. */
async function waitForLogLine(id: number, offset: number, msg: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (recordsFrom(id, offset).some((r) => r.msg === msg)) return true;
    if (!cluster.isRunning(id)) return false;
    await sleep(5);
  }
  return false;
}

/** The snapshot files (snap-<index>-<term>.snap) in node `id`'s data directory. */
function snapshotFiles(id: number): string[] {
  try {
    return readdirSync(path.join(cluster.dataDir(id), 'snapshots')).filter((name) => name.endsWith('.snap'));
  } catch {
    return [];
  }
}

/** Waits (polling every millisecond) until node `id` has a snapshot file not in `before`. */
async function waitForNewSnapshotFile(id: number, before: readonly string[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (snapshotFiles(id).some((name) => !before.includes(name))) return true;
    if (!cluster.isRunning(id)) return false;
    await sleep(1);
  }
  return false;
}

describe('a follower killed while it installs a snapshot', () => {
  it('comes up again, catches up and serves every acknowledged SYNC write', async () => {
    const c = client!;
    const acknowledged = new Map<string, { index: number; n: number }>();
    let written = 0;
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader)!;
    /** Where the follower was in the install when each kill came, from its log lines. */
    const phases: string[] = [];

    for (const { after } of KILLS) {
      if (cluster.isRunning(follower)) await cluster.signal(follower, 'SIGKILL');
      const current = await cluster.waitForLeader(20_000, follower);
      // Nothing the follower has reaches past this index: once the leader compacted past it, the
      // follower can only catch up by a snapshot. (A node snapshots after max(--snapshot-entries,
      // sessions / 2) commands: each round writes at least half as many sessions as there are.)
      const killedAt = (await cluster.status(current)).commitIndex;
      const leaderLogStart = logSize(current);
      const compactedPast = (): boolean =>
        recordsFrom(current, leaderLogStart).some((r) => r.msg === 'snapshot taken, log compacted' && (r.index ?? 0) > killedAt);
      for (let batch = 0; !compactedPast() || batch < 20; batch++) {
        expect(batch, `leader ${current} never compacted its log past ${killedAt}:\n${cluster.logTail(current, 20)}`).toBeLessThan(100);
        // Concurrent writes share batch entries; 20 batches of 16 are 320 sessions, about 5 MB.
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            const n = written++;
            const { session, index } = await c.create({ clientId: `crash-${n % 7}`, transport: 'http', data: { n, pad: 'x'.repeat(DATA_BYTES) } }, { durability: 'sync' });
            acknowledged.set(session.sessionId, { index, n });
          }),
        );
      }

      const followerLogStart = logSize(follower);
      const filesBefore = snapshotFiles(follower);
      cluster.startNode(follower);
      const seenStep =
        after === 'snapshot file'
          ? await waitForNewSnapshotFile(follower, filesBefore, 20_000)
          : await waitForLogLine(follower, followerLogStart, after, 20_000);
      expect(seenStep, `node ${follower}: no ${after}:\n${cluster.describeUnexpectedExits() || cluster.logTail(follower, 30)}`).toBe(true);
      await cluster.signal(follower, 'SIGKILL');
      const seen = recordsFrom(follower, followerLogStart).map((r) => r.msg);
      phases.push(
        `kill at '${after}': ${
          seen.includes('snapshot installed') ? 'after the install' : seen.includes('installing snapshot from leader') ? 'while loading the state' : 'before the state load began'
        }`,
      );
    }
    expect(cluster.unexpectedExits, cluster.describeUnexpectedExits()).toEqual([]);
    // At least one kill came before the install finished, else this test tested nothing.
    expect(phases.some((p) => !p.includes('after the install')), phases.join('\n')).toBe(true);

    // The last start: it must recover from whatever the kills left on its disk.
    const restartedAt = logSize(follower);
    cluster.startNode(follower);
    const { index: lastIndex } = await c.create({ clientId: 'crash-last', transport: 'http' }, { durability: 'sync' });
    await cluster.waitForApplied(lastIndex, 30_000);
    expect(cluster.unexpectedExits, cluster.describeUnexpectedExits()).toEqual([]);
    expect(recordsFrom(follower, restartedAt).some((r) => r.msg === 'recovered from disk'), cluster.logTail(follower, 30)).toBe(true);
    // What each start found on the disk the kill before it left (for the reader of the output).
    const starts = recordsFrom(follower, 0)
      .filter((r) => r.msg === 'recovered from disk' || r.msg?.startsWith('finishing the install'))
      .map((r) => (r.msg === 'recovered from disk' ? `recovered: applied ${r.applied}, snapshot ${r.snapshotIndex}` : `finished the install of ${r.index}`));
    console.log(`node ${follower}, ${acknowledged.size} sessions acknowledged; ${phases.join('; ')}\n${starts.join('\n')}`);

    // The same state as the leader's once both applied the same index.
    const leaderNow = await cluster.waitForLeader();
    let digests = '';
    for (let i = 0; i < 50; i++) {
      const [a, b] = await Promise.all([cluster.status(leaderNow), cluster.status(follower)]);
      digests = `leader ${leaderNow} applied ${a.appliedIndex} ${a.stateDigest}, node ${follower} applied ${b.appliedIndex} ${b.stateDigest}`;
      if (a.appliedIndex === b.appliedIndex && a.stateDigest === b.stateDigest) break;
      await sleep(100);
    }
    const [leaderStatus, followerStatus] = await Promise.all([cluster.status(leaderNow), cluster.status(follower)]);
    expect(followerStatus.stateDigest, digests).toBe(leaderStatus.stateDigest);

    // Every acknowledged write, read from the follower's own state.
    const local = await SessionClient.connect({ endpoints: [cluster.address(follower)], retriesMax: 0, deadlineMsDefault: 10_000 });
    try {
      const missing: string[] = [];
      const entries = [...acknowledged];
      for (let i = 0; i < entries.length; i += 100) {
        await Promise.all(
          entries.slice(i, i + 100).map(async ([sessionId, { index, n }]) => {
            const read = await local.get(sessionId, { consistency: 'stale', minIndex: index }).catch((error: Error) => error);
            if (read instanceof Error || read.session.data.n !== n) missing.push(`${sessionId} (n ${n}, index ${index}): ${read instanceof Error ? read.message : JSON.stringify(read.session.data.n)}`);
          }),
        );
      }
      expect(missing, missing.slice(0, 5).join('\n')).toEqual([]);
      expect((await local.count('', { consistency: 'stale', minIndex: lastIndex })).count).toBe(acknowledged.size + 1);
    } finally {
      local.close();
    }
  }, 90_000);
});
