/**
 * The operations HTTP endpoints of real node processes (the built CLI): a one-node cluster
 * started with --http-listen, and `sessionraft cluster up`, which gives node K the HTTP port
 * base port + 1000 + K - 1. Only pids these tests started are signalled; temp dirs are removed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionClient } from '../../src/client/index.js';
import { processAlive } from '../../src/cli/cluster-command.js';
import { TestCluster, freeClusterBasePort, freePorts, runCli, sleep } from './harness.js';

const clusters: TestCluster[] = [];
const dataDir = mkdtempSync(path.join(tmpdir(), 'sessionraft-ops-'));

afterAll(async () => {
  await Promise.all(clusters.map((c) => c.close()));
  for (const k of [1, 2, 3]) {
    const file = path.join(dataDir, `n${k}`, 'node.pid');
    if (!existsSync(file)) continue;
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** The value of one sample line of Prometheus text, e.g. value(text, 'x_total{peer="2"}'). */
function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return { status: response.status, body: await response.text() };
}

/** Polls /readyz until it answers 200; fails with the last answer. */
async function waitReady(base: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const { status, body } = await get(`${base}/readyz`);
      if (status === 200) return;
      last = `${status} ${body.trim()}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${base}/readyz not ready within ${timeoutMs} ms: ${last}`);
}



const cli = runCli;

describe('operations HTTP endpoints of real nodes', () => {
  it('sessionraft node --help lists --http-listen', () => {
    const help = cli(['node', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--http-listen\s+host:port to serve GET \/metrics, \/healthz and \/readyz/);
  });

  it('a one-node process is ready, exports its state, live sessions, proposals and requests, and closes the port on SIGTERM', async () => {
    const [httpPort] = await freePorts(1);
    const base = `http://127.0.0.1:${httpPort}`;
    const cluster = await TestCluster.start({ nodes: 1, nodeArgs: ['--http-listen', `127.0.0.1:${httpPort}`] });
    clusters.push(cluster);
    await waitReady(base);
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, body: '{"status":"ok"}\n' });

    const before = (await get(`${base}/metrics`)).body;
    expect(value(before, 'sessionraft_has_leader')).toBe(1);
    expect(value(before, 'sessionraft_is_leader')).toBe(1);
    expect(value(before, 'sessionraft_term')).toBeGreaterThanOrEqual(1);
    expect(value(before, 'sessionraft_leader_changes_total')).toBeGreaterThanOrEqual(1);
    expect(value(before, 'sessionraft_applied_index')).toBe(value(before, 'sessionraft_commit_index'));
    expect(value(before, 'sessionraft_live_sessions')).toBe(0);
    expect(value(before, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);

    const client = await SessionClient.connect({ endpoints: [...cluster.endpoints] });
    let lastIndex = 0;
    try {
      for (let i = 0; i < 3; i++) lastIndex = (await client.create({ clientId: 'ops', transport: 'http', data: { i } })).index;
      // A failed request, counted with its code (the SDK reports a missing session its own way).
      await client.get('00000000-0000-4000-8000-000000000000').catch(() => undefined);
    } finally {
      client.close();
    }
    // A SYNC write is answered after the leader applied it: the next scrape sees it.
    const after = (await get(`${base}/metrics`)).body;
    expect(value(after, 'sessionraft_live_sessions')).toBe(3);
    expect(value(after, 'sessionraft_applied_index')).toBeGreaterThanOrEqual(lastIndex);
    expect(value(after, 'sessionraft_commit_index')).toBeGreaterThanOrEqual(lastIndex);
    expect(value(after, 'sessionraft_proposals_committed_total')).toBe(3);
    expect(value(after, 'sessionraft_proposals_pending')).toBe(0);
    expect(value(after, 'sessionraft_proposals_failed_total{reason="not_leader"}')).toBe(0);
    expect(value(after, 'sessionraft_append_fsync_duration_seconds_count')).toBeGreaterThanOrEqual(3);
    expect(value(after, 'sessionraft_apply_duration_seconds_count')).toBeGreaterThanOrEqual(3);
    expect(value(after, 'sessionraft_apply_duration_seconds_bucket{le="+Inf"}')).toBe(value(after, 'sessionraft_apply_duration_seconds_count'));
    expect(value(after, 'sessionraft_sessions_expired_total')).toBe(0);
    expect(value(after, 'sessionraft_snapshots_taken_total')).toBe(0);
    // The SDK sends its calls as items of one Batch stream: each item is counted with its code.
    expect(value(after, 'sessionraft_requests_total{method="SessionService/Batch/Create",code="OK"}')).toBe(3);
    expect(value(after, 'sessionraft_requests_total{method="SessionService/Batch/Get",code="NOT_FOUND"}')).toBe(1);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    expect((await get(`${base}/missing`)).status).toBe(404);

    await cluster.signal(1, 'SIGTERM');
    await expect(get(`${base}/healthz`)).rejects.toThrow();
    expect(cluster.unexpectedExits, cluster.describeUnexpectedExits()).toEqual([]);
  });

  it('`cluster up` serves HTTP on base port + 1000 + K - 1: every node ready, one leader, counters per peer', async () => {
    const basePort = await freeClusterBasePort();
    const common = ['--data-dir', dataDir, '--base-port', String(basePort)];
    const up = cli(['cluster', 'up', ...common, '--', '--tick-ms', '50']);
    expect(up.status, up.stderr).toBe(0);
    expect(up.stdout).toContain(`node 1: pid `);
    expect(up.stdout).toContain(`, http 127.0.0.1:${basePort + 1000}, `);
    const urls = [1, 2, 3].map((k) => `http://127.0.0.1:${basePort + 1000 + k - 1}`);
    await Promise.all(urls.map((url) => waitReady(url)));

    const scrapes = await Promise.all(urls.map(async (url) => (await get(`${url}/metrics`)).body));
    const leaders = [1, 2, 3].filter((_, i) => value(scrapes[i]!, 'sessionraft_is_leader') === 1);
    expect(leaders).toHaveLength(1);
    const leader = leaders[0]!;
    for (const [i, text] of scrapes.entries()) {
      const id = i + 1;
      expect(value(text, 'sessionraft_has_leader'), `node ${id}`).toBe(1);
      for (const peer of [1, 2, 3].filter((k) => k !== id)) {
        // Every configured peer has its counters, from 0 up.
        expect(value(text, `sessionraft_peer_messages_dropped_total{peer="${peer}"}`), `node ${id} peer ${peer}`).toBeGreaterThanOrEqual(0);
        expect(value(text, `sessionraft_peer_stream_failures_total{peer="${peer}"}`), `node ${id} peer ${peer}`).toBeGreaterThanOrEqual(0);
      }
      if (id === leader) {
        for (const peer of [1, 2, 3].filter((k) => k !== id)) {
          expect(value(text, `sessionraft_peer_messages_sent_total{peer="${peer}"}`)).toBeGreaterThan(0); // heartbeats
          expect(value(text, `sessionraft_peer_messages_received_total{peer="${peer}"}`)).toBeGreaterThan(0); // their answers
          expect(value(text, `sessionraft_peer_round_trip_time_seconds_count{peer="${peer}"}`)).toBeGreaterThan(0); // heartbeats timed
        }
      } else {
        expect(value(text, `sessionraft_peer_messages_received_total{peer="${leader}"}`), `node ${id}`).toBeGreaterThan(0);
        expect(value(text, `sessionraft_peer_messages_sent_total{peer="${leader}"}`), `node ${id}`).toBeGreaterThan(0);
      }
    }

    const down = cli(['cluster', 'down', ...common]);
    expect(down.status, down.stderr).toBe(0);
    for (const url of urls) await expect(get(`${url}/healthz`)).rejects.toThrow();
  });
});
