/**
 * Restore with real processes: a backup taken while a writer keeps writing is restored into a new
 * one-node cluster (a new cluster id), which has every write acknowledged before the backup
 * began and the source's state digest at the backup's index; a node joins it. Wrong keys,
 * tampered and truncated files are refused and leave no data directory behind.
 */
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionClient } from '../../src/client/index.js';
import { TestCluster, freePorts, runCli, sleep } from './harness.js';

let cluster: TestCluster;
let client: SessionClient;
const closers: (() => void)[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start({ nodes: 3, nodeArgs: ['--snapshot-entries', '100'] });
  await cluster.waitForLeader();
  client = await SessionClient.connect({ endpoints: [...cluster.endpoints], retriesMax: 20 });
}, 60_000);

afterAll(async () => {
  for (const close of closers) close();
  client?.close();
  await cluster?.close();
});

async function newAddress(): Promise<string> {
  const [port] = await freePorts(1);
  return `127.0.0.1:${port}`;
}

async function waitFor<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await f().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms\n${cluster.logTails(20)}`);
    await sleep(200);
  }
}

describe('restore from a backup', () => {
  it('restores a backup taken under writes into a new cluster that has every write acknowledged before it', async () => {
    const before: string[] = [];
    for (let i = 0; i < 300; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, (_, k) => client.create({ clientId: 'restore', transport: 'it', data: { i: i + k } })));
      before.push(...batch.map((r) => r.session.sessionId));
    }
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) await client.create({ clientId: 'during', transport: 'it', data: { i } }).catch(() => undefined);
    })();
    const key = path.join(cluster.dir, 'backup.key');
    expect(runCli(['backup', 'keygen', '--out', key]).status).toBe(0);
    const file = path.join(cluster.dir, 'sessions.backup');
    const taken = runCli(['backup', '--out', file, '--key-file', key, '--endpoints', cluster.endpoints.join(',')]);
    writing = false;
    await writer;
    expect(taken.status, taken.stderr).toBe(0);
    const verified = runCli(['backup', 'verify', file, '--key-file', key, '--json']);
    expect(verified.status, verified.stderr).toBe(0);
    const header = (JSON.parse(verified.stdout) as { header: { clusterId: string; index: number; stateDigest?: string; sessionCount: number } }).header;
    expect(header.clusterId).toBe('it');

    const dataDir = path.join(cluster.dir, 'restored');
    const address = await newAddress();
    const restored = runCli(['restore', file, '--key-file', key, '--data-dir', dataDir, '--id', '1', '--listen', address]);
    expect(restored.status, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/new cluster 'it-r\d{8}T\d{6}Z'/);
    const identity = JSON.parse(readFileSync(path.join(dataDir, 'identity.json'), 'utf8')) as { clusterId: string; origin: string };
    expect(identity.origin).toBe('restore');
    expect(identity.clusterId).not.toBe('it');

    // The restored node runs as a one-node cluster of its own (a TestCluster slot of its own).
    const restoredCluster = await TestCluster.start({ nodes: 0 });
    closers.push(() => void restoredCluster.close());
    restoredCluster.adopt(1, address, dataDir);
    restoredCluster.setMembers([1]);
    await restoredCluster.waitForLeader();
    const status = await restoredCluster.status(1);
    // At the backup's index plus the new leader's no-op, which changes no session.
    expect([header.index, header.index + 1]).toContain(status.appliedIndex);
    expect(header.stateDigest).toMatch(/^[0-9a-f]{16,}$/);
    expect(status.stateDigest).toBe(header.stateDigest);
    const fresh = await SessionClient.connect({ endpoints: [address], retriesMax: 20 });
    closers.push(() => fresh.close());
    const missing: string[] = [];
    for (const id of before) if (!(await fresh.get(id).then(() => true, () => false))) missing.push(id);
    expect(missing).toEqual([]);
    expect((await fresh.count('restore')).count).toBe(before.length);

    // Another node joins the restored cluster and gets the state.
    const second = await newAddress();
    restoredCluster.startJoiningNode(2, second, [address]);
    const joined = await waitFor('node 2 joining as a voter', async () => {
      const s = await restoredCluster.status(1);
      return s.members.some((m) => m.id === 2 && m.voter) ? s : undefined;
    });
    expect(joined.clusterId).toBe(identity.clusterId);
    await waitFor('node 2 catching up', async () => {
      const [a, b] = await Promise.all([restoredCluster.status(1), restoredCluster.status(2)]);
      return a.appliedIndex === b.appliedIndex && a.stateDigest === b.stateDigest ? true : undefined;
    });
    expect(restoredCluster.unexpectedExits).toEqual([]);
  }, 180_000);

  it('refuses a wrong key, a tampered and a truncated file, and writes nothing', async () => {
    const key = path.join(cluster.dir, 'refuse.key');
    const other = path.join(cluster.dir, 'other.key');
    expect(runCli(['backup', 'keygen', '--out', key]).status).toBe(0);
    expect(runCli(['backup', 'keygen', '--out', other]).status).toBe(0);
    const file = path.join(cluster.dir, 'refuse.backup');
    expect(runCli(['backup', '--out', file, '--key-file', key, '--endpoints', cluster.endpoints.join(',')]).status).toBe(0);
    const bytes = readFileSync(file);
    const tampered = path.join(cluster.dir, 'tampered.backup');
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x40;
    writeFileSync(tampered, flipped);
    const truncated = path.join(cluster.dir, 'truncated.backup');
    writeFileSync(truncated, bytes);
    truncateSync(truncated, bytes.length - 100);
    const address = await newAddress();
    const cases: [string, string, RegExp][] = [
      [file, other, /wrong key/i],
      [tampered, key, /tampered|damaged/i],
      [truncated, key, /truncated/i],
      [path.join(cluster.dir, 'n1.log'), key, /not a (sessionraft )?backup/i],
    ];
    for (const [backup, keyFile, message] of cases) {
      const dataDir = path.join(cluster.dir, `never-${path.basename(backup)}`);
      const result = runCli(['restore', backup, '--key-file', keyFile, '--data-dir', dataDir, '--listen', address]);
      expect({ backup, status: result.status }).toEqual({ backup, status: 1 });
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/nothing was written/);
      expect(existsSync(dataDir)).toBe(false);
      expect(existsSync(`${dataDir}.restoring`)).toBe(false);
    }
    const notEmpty = runCli(['restore', file, '--key-file', key, '--data-dir', cluster.dataDir(1), '--listen', address]);
    expect(notEmpty.status).toBe(2);
    expect(notEmpty.stderr).toMatch(/not empty/);
  }, 120_000);
});
