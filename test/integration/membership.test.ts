/**
 * Membership with real processes: a node joins and is promoted once caught up (by snapshot), a
 * wiped node is replaced under a new id while writes go on, a node comes back on a new address,
 * a majority lost for good is recovered from the survivor, and the admin CLI refuses what it
 * must with the right exit code. Each test has its own cluster.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionClient } from '../../src/client/index.js';
import { TestCluster, freePorts, runCli, sleep } from './harness.js';

const clusters: TestCluster[] = [];
const clients: SessionClient[] = [];

async function startCluster(nodeArgs: readonly string[] = []): Promise<{ cluster: TestCluster; client: SessionClient }> {
  const cluster = await TestCluster.start({ nodes: 3, nodeArgs: ['--snapshot-entries', '50', '--promote-after-ms', '300', ...nodeArgs] });
  clusters.push(cluster);
  await cluster.waitForLeader();
  const client = await SessionClient.connect({ endpoints: [...cluster.endpoints], retriesMax: 20 });
  clients.push(client);
  return { cluster, client };
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  const failures = clusters.flatMap((c) => c.unexpectedExits.map((e) => `n${e.id} exited (code ${e.code}):\n${e.logTail}`));
  await Promise.all(clusters.splice(0).map((c) => c.close()));
  expect(failures).toEqual([]);
});

async function newAddress(): Promise<string> {
  const [port] = await freePorts(1);
  return `127.0.0.1:${port}`;
}

/** Creates `count` sessions (SYNC, `parallel` at a time: one log entry per batch); returns their ids. */
async function createSessions(client: SessionClient, count: number, clientId: string, parallel = 10): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, count - i) }, (_, k) => client.create({ clientId, transport: 'it', data: { i: i + k } })),
    );
    ids.push(...batch.map((r) => r.session.sessionId));
  }
  return ids;
}

/** Writes one session at a time until the leader's log was compacted past `index` (so a node behind it needs a snapshot). */
async function writeUntilCompactedPast(cluster: TestCluster, client: SessionClient, index: number): Promise<void> {
  const leader = await cluster.waitForLeader();
  const compacted = (): boolean =>
    readFileSync(cluster.logPath(leader), 'utf8')
      .split('\n')
      .some((line) => line.includes('snapshot taken, log compacted') && (JSON.parse(line) as { index: number }).index > index);
  for (let i = 0; !compacted(); i++) {
    expect(i, 'the leader never compacted its log').toBeLessThan(5_000);
    await client.create({ clientId: 'filler', transport: 'it', data: { i } });
  }
}

/** Waits until `check` holds for the leader's member list. */
async function waitForMembers(
  cluster: TestCluster,
  endpoint: string,
  check: (members: { id: number; address: string; voter: boolean }[]) => boolean,
  timeoutMs = 30_000,
): Promise<{ id: number; address: string; voter: boolean }[]> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const result = runCli(['admin', 'members', '--endpoints', endpoint, '--json', '--timeout-ms', '3000']);
    if (result.status === 0) {
      const members = JSON.parse(result.stdout) as { id: number; address: string; voter: boolean }[];
      last = members;
      if (check(members)) return members;
    } else {
      last = result.stderr;
    }
    await sleep(200);
  }
  throw new Error(`membership never as expected; last: ${JSON.stringify(last)}\n${cluster.logTails(20)}`);
}

/** Every listed node reaches the same applied index and digest. */
async function waitForSameState(cluster: TestCluster, ids: readonly number[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const statuses = await Promise.all(ids.map((id) => cluster.status(id, 1_000).catch(() => undefined)));
    if (statuses.every((s) => s !== undefined)) {
      const applied = new Set(statuses.map((s) => s!.appliedIndex));
      const digests = new Set(statuses.map((s) => s!.stateDigest));
      if (applied.size === 1 && digests.size === 1) return;
      last = JSON.stringify(statuses.map((s) => ({ id: s!.nodeId, applied: s!.appliedIndex, digest: s!.stateDigest.slice(0, 8) })));
    }
    await sleep(200);
  }
  throw new Error(`nodes ${ids.join(',')} never converged; last: ${last}\n${cluster.logTails(20)}`);
}

async function expectAllReadable(client: SessionClient, ids: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const id of ids) {
    const found = await client.get(id).then(
      () => true,
      () => false,
    );
    if (!found) missing.push(id);
  }
  expect(missing).toEqual([]);
}

describe('membership of a real cluster', () => {
  it('a node joins with --join, catches up by snapshot, and is promoted once caught up', async () => {
    const { cluster, client } = await startCluster();
    const ids = await createSessions(client, 100, 'join');
    await writeUntilCompactedPast(cluster, client, 1); // a joiner must start from a snapshot
    const address = await newAddress();
    cluster.startJoiningNode(4, address, [cluster.address(2)]);
    const members = await waitForMembers(cluster, cluster.address(1), (m) => m.some((x) => x.id === 4 && x.voter));
    expect(members.map((m) => [m.id, m.address, m.voter])).toEqual([
      [1, cluster.address(1), true],
      [2, cluster.address(2), true],
      [3, cluster.address(3), true],
      [4, address, true],
    ]);
    cluster.setMembers([1, 2, 3, 4]);
    await waitForSameState(cluster, [1, 2, 3, 4]);
    expect(cluster.logTail(4, 200)).toMatch(/installing snapshot from leader/);
    const four = await SessionClient.connect({ endpoints: [address], retriesMax: 0 });
    clients.push(four);
    expect((await four.count('join', { consistency: 'stale' })).count).toBe(ids.length);

    // A restart of the joined node needs no --join and no --peers: its data says everything.
    await cluster.signal(4, 'SIGTERM');
    cluster.startNodeAt(4, address);
    await createSessions(client, 5, 'after');
    await waitForSameState(cluster, [1, 2, 3, 4]);
  }, 120_000);

  it('a follower that missed more than the compaction threshold catches up by snapshot', async () => {
    const { cluster, client } = await startCluster();
    const { index } = await client.create({ clientId: 'missed', transport: 'it' });
    await cluster.waitForApplied(index);
    await cluster.signal(3, 'SIGKILL');
    await writeUntilCompactedPast(cluster, client, index);
    cluster.startNode(3);
    await waitForSameState(cluster, [1, 2, 3]);
    expect(cluster.logTail(3, 200)).toMatch(/installing snapshot from leader/);
  }, 120_000);

  it('a wiped node is replaced under a new id while writes go on; its old id is refused', async () => {
    const { cluster, client } = await startCluster();
    const acknowledged: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        try {
          const { session } = await client.create({ clientId: 'replace', transport: 'it', data: { i } });
          acknowledged.push(session.sessionId);
        } catch {
          await sleep(50); // unacknowledged: nothing to check
        }
      }
    })();
    await sleep(500);
    const leader = await cluster.waitForLeader();
    const victim = leader === 2 ? 3 : 2;
    await cluster.signal(victim, 'SIGKILL');
    cluster.wipe(victim);
    const address = await newAddress();
    const survivors = cluster.ids.filter((id) => id !== victim).map((id) => cluster.address(id));
    const replaced = runCli(['admin', 'replace-node', String(victim), '--id', '4', '--address', address, '--endpoints', survivors.join(',')]);
    expect(replaced.stderr).toBe('');
    expect(replaced.status).toBe(0);
    expect(replaced.stdout).toMatch(new RegExp(`replaced node ${victim} by node 4`));
    cluster.startJoiningNode(4, address, survivors);
    await waitForMembers(cluster, survivors[0]!, (m) => m.some((x) => x.id === 4 && x.voter) && !m.some((x) => x.id === victim));
    await sleep(500);
    writing = false;
    await writer;
    const members = cluster.ids.filter((id) => id !== victim).concat(4);
    cluster.setMembers(members);
    await waitForSameState(cluster, members);
    expect(acknowledged.length).toBeGreaterThan(20);
    await expectAllReadable(client, acknowledged);

    // The wiped node under its old id: refused (it would have forgotten its votes).
    const again = runCli(['node', '--id', String(victim), '--listen', await newAddress(), '--join', survivors[0]!, '--data-dir', cluster.dataDir(victim)]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(new RegExp(`node id ${victim} was removed`));
    // And the admin API refuses to add it back.
    const readd = runCli(['admin', 'add-node', String(victim), '--address', await newAddress(), '--endpoints', survivors.join(',')]);
    expect(readd.status).toBe(19); // FAILED_PRECONDITION
    expect(readd.stderr).toMatch(/never reused/);
  }, 120_000);

  it('a node restarted on a new address records it and rejoins', async () => {
    const { cluster, client } = await startCluster();
    await cluster.signal(3, 'SIGTERM');
    const address = await newAddress();
    cluster.startNodeAt(3, address);
    await waitForMembers(cluster, cluster.address(1), (m) => m.find((x) => x.id === 3)?.address === address);
    await createSessions(client, 20, 'moved');
    await waitForSameState(cluster, [1, 2, 3]);
    // Leadership can move to it (it is reached at its new address).
    const transferred = runCli(['admin', 'transfer-leader', '3', '--endpoints', cluster.address(1)]);
    expect(transferred.stderr).toBe('');
    expect(transferred.stdout.trim()).toBe('node 3 leads');
    expect((await cluster.status(3)).role).toBe('leader');
  }, 120_000);

  it('quorum loss: the survivor is recovered with --force-new-cluster, new nodes join, no applied SYNC write is lost', async () => {
    const { cluster, client } = await startCluster();
    const ids = await createSessions(client, 120, 'quorum');
    await waitForSameState(cluster, [1, 2, 3]);
    await cluster.signal(2, 'SIGKILL');
    await cluster.signal(3, 'SIGKILL');
    cluster.wipe(2);
    cluster.wipe(3);
    await cluster.signal(1, 'SIGTERM');

    const refused = runCli(['recover', '--data-dir', cluster.dataDir(1)]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/--force-new-cluster/);
    const recovered = runCli(['recover', '--data-dir', cluster.dataDir(1), '--force-new-cluster']);
    expect(recovered.status, recovered.stderr).toBe(0);
    expect(recovered.stderr).toMatch(/WARNING: forced a new cluster/);
    expect(recovered.stderr).toMatch(/Removed for good: 2, 3/);

    cluster.setMembers([1]);
    cluster.startNode(1);
    await cluster.waitForLeader();
    const five = await newAddress();
    const six = await newAddress();
    cluster.startJoiningNode(5, five, [cluster.address(1)]);
    cluster.startJoiningNode(6, six, [cluster.address(1)]);
    await waitForMembers(cluster, cluster.address(1), (m) => m.length === 3 && m.every((x) => x.voter));
    cluster.setMembers([1, 5, 6]);
    await waitForSameState(cluster, [1, 5, 6]);
    const fresh = await SessionClient.connect({ endpoints: [cluster.address(1), five, six], retriesMax: 20 });
    clients.push(fresh);
    await expectAllReadable(fresh, ids);
    expect((await fresh.count('quorum')).count).toBe(ids.length);
  }, 120_000);

  it('refuses what it must, with clear errors and exit codes', async () => {
    const { cluster } = await startCluster();
    const endpoints = cluster.endpoints.join(',');
    const cases: [string[], number, RegExp][] = [
      [['admin', 'remove-node', '9', '--endpoints', endpoints], 15, /node 9 is not a member/],
      [['admin', 'promote', '1', '--endpoints', endpoints], 19, /already a voter/],
      [['admin', 'add-node', '2', '--address', '127.0.0.1:1', '--endpoints', endpoints], 16, /already a voter/],
      [['admin', 'add-node', '7', '--address', 'nope', '--endpoints', endpoints], 2, /--address: expected host:port/],
      [['admin', 'replace-node', '2', '--id', '2', '--address', '127.0.0.1:1', '--endpoints', endpoints], 2, /new id/],
      [['admin', 'transfer-leader', '9', '--endpoints', endpoints], 19, /not a voter/],
      [['admin', 'explode', '--endpoints', endpoints], 2, /expected an action/],
    ];
    for (const [args, code, message] of cases) {
      const result = runCli(args);
      expect({ args, status: result.status }).toEqual({ args, status: code });
      expect(result.stderr).toMatch(message);
    }
    // A learner that never answered cannot be promoted; removing it is fine.
    const added = runCli(['admin', 'add-node', '7', '--address', await newAddress(), '--endpoints', endpoints]);
    expect(added.status, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/added node 7 .* as a learner/);
    const promote = runCli(['admin', 'promote', '7', '--endpoints', endpoints]);
    expect(promote.status).toBe(19);
    expect(promote.stderr).toMatch(/node 7 is not caught up/);
    expect(runCli(['admin', 'remove-node', '7', '--endpoints', endpoints]).status).toBe(0);
    // A node with data refuses flags that contradict it.
    const stopped = cluster.dataDir(3);
    await cluster.signal(3, 'SIGTERM');
    const otherCluster = runCli(['node', '--id', '3', '--listen', cluster.address(3), '--data-dir', stopped, '--cluster-id', 'other']);
    expect(otherCluster.status).toBe(2);
    expect(otherCluster.stderr).toMatch(/conflicts with the data: this node belongs to cluster 'it'/);
    const otherPeers = runCli(['node', '--id', '3', '--peers', `3=${cluster.address(3)}`, '--data-dir', stopped]);
    expect(otherPeers.status).toBe(2);
    expect(otherPeers.stderr).toMatch(/--peers conflicts with the data/);
    const wrongId = runCli(['node', '--id', '4', '--listen', cluster.address(3), '--data-dir', stopped]);
    expect(wrongId.status).toBe(2);
    expect(wrongId.stderr).toMatch(/holds the data of node 3/);
    const nothing = runCli(['node', '--id', '8', '--listen', await newAddress(), '--data-dir', `${cluster.dir}/empty`]);
    expect(nothing.status).toBe(2);
    expect(nothing.stderr).toMatch(/needs --peers .* or --join/);
  }, 120_000);
});
