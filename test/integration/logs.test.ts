/**
 * The JSON lines of real node processes: every line of three nodes' output (at debug level,
 * through elections, writes, a follower caught up by a snapshot, a SIGTERM handoff) is one JSON
 * object with no key twice in any object. JSON.parse would silently keep the last of two equal
 * keys; log shippers differ on which they keep.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionClient } from '../../src/client/index.js';
import { duplicateKeys } from '../support/json-keys.js';
import { TestCluster } from './harness.js';

let cluster: TestCluster;
let client: SessionClient | undefined;

beforeAll(async () => {
  cluster = await TestCluster.start({ nodes: 3, nodeArgs: ['--log-level', 'debug', '--snapshot-entries', '20'] });
  await cluster.waitForLeader();
  client = await SessionClient.connect({ endpoints: [...cluster.endpoints], retriesMax: 10 });
}, 60_000);

afterAll(async () => {
  client?.close();
  await cluster?.close();
});

/** Every line of node `id`'s output, parsed; a line that is not JSON fails with its text. */
function records(id: number): { line: string; duplicates: string[]; record: Record<string, unknown> }[] {
  const lines = readFileSync(cluster.logPath(id), 'utf8').split('\n').filter((l) => l !== '');
  return lines.map((line) => {
    try {
      return { line, duplicates: duplicateKeys(line), record: JSON.parse(line) as Record<string, unknown> };
    } catch (error) {
      throw new Error(`n${id} wrote a line that is not JSON (${(error as Error).message}): ${line}`);
    }
  });
}

describe('JSON log lines of real nodes', () => {
  it('never repeat a key, from any module, through writes, a snapshot catch-up and a SIGTERM handoff', async () => {
    const c = client!;
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader)!;
    await cluster.signal(follower, 'SIGKILL');
    // One at a time, so the log grows past --snapshot-entries and is compacted: the follower
    // restarted below needs a snapshot (logged by the leader's peer stream and by the follower).
    for (let i = 0; i < 80; i++) await c.create({ clientId: 'logs', transport: 'http', data: { i } });
    cluster.startNode(follower);
    const { index } = await c.create({ clientId: 'logs', transport: 'http' });
    await cluster.waitForApplied(index);
    await cluster.signal(leader, 'SIGTERM'); // leadership transfer, then stop
    await cluster.waitForLeader(20_000, leader);
    expect(cluster.unexpectedExits, cluster.describeUnexpectedExits()).toEqual([]);

    const all = cluster.ids.flatMap((id) => records(id).map((r) => ({ id, ...r })));
    const repeated = all.filter((r) => r.duplicates.length > 0).map((r) => `n${r.id}: ${r.duplicates.join(', ')} in ${r.line}`);
    expect(repeated, repeated.slice(0, 5).join('\n')).toEqual([]);
    // The run went through the paths it means to cover: each module logged, a snapshot moved.
    const modules = new Set(all.map((r) => r.record.module));
    for (const module of ['node', 'transport']) expect(modules).toContain(module);
    expect(all.some((r) => r.record.msg === 'sending snapshot')).toBe(true);
    expect(all.some((r) => r.record.msg === 'installing snapshot from leader')).toBe(true);
    expect(all.some((r) => r.record.msg === 'stopped' && r.id === leader)).toBe(true);
  });
});
