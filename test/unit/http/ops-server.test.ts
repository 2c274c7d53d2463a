/**
 * The operations HTTP server over a fake OpsSource on 127.0.0.1:0: /healthz, /readyz in both
 * states, /metrics names and values, 404 and 405; and nodeOpsSource over a fake node.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  nodeOpsSource,
  parseListenAddress,
  startOpsServer,
  type OpsNode,
  type OpsServer,
  type OpsSource,
  type RequestCount,
} from '../../../src/http/index.js';
import { NodeStats, NotLeaderError, TimeoutError, type NodeStatus } from '../../../src/node/index.js';
import { logIndex, nodeId, term } from '../../../src/raft/index.js';
import type { PeerStats, TransportStats } from '../../../src/transport/index.js';

interface FakeState {
  leader: number;
  role: 'leader' | 'follower' | 'candidate';
  term: number;
  commit: number;
  applied: number;
  lastIndex: number;
  alive: boolean;
  liveSessions: number | undefined;
  peers: PeerStats[];
  inboundRefused: number;
  stats: NodeStats;
  requests: RequestCount[];
}

function peer(id: number, counts: Partial<PeerStats> = {}): PeerStats {
  return {
    id: nodeId(id),
    address: `127.0.0.1:${7000 + id}`,
    state: 'open',
    partitioned: false,
    queuedMessages: 0,
    queuedBytes: 0,
    framesSent: 0,
    messagesSent: 0,
    bytesSent: 0,
    messagesDropped: 0,
    connects: 0,
    failures: 0,
    snapshotsSent: 0,
    snapshotsFailed: 0,
    framesReceived: 0,
    messagesReceived: 0,
    snapshotsReceived: 0,
    ...counts,
  };
}

function fakeStatus(s: FakeState): NodeStatus {
  return {
    raft: {
      id: nodeId(1),
      role: s.role,
      term: term(s.term),
      vote: nodeId(0),
      leader: nodeId(s.leader),
      commit: logIndex(s.commit),
      applied: logIndex(s.applied),
      firstIndex: logIndex(1),
      lastIndex: logIndex(s.lastIndex),
      confState: { voters: [nodeId(1), nodeId(2), nodeId(3)], learners: [] },
      peers: [],
      transferee: nodeId(0),
    },
    members: [],
    stateDigest: '00',
    appliedIndex: logIndex(s.applied),
    clusterId: 'test',
  };
}

function fakeSource(state: FakeState): OpsSource & { statusCalls: number } {
  const source = {
    statusCalls: 0,
    status: () => {
      source.statusCalls++;
      return fakeStatus(state);
    },
    transportStats: (): TransportStats => ({
      ...peer(0),
      inboundRefused: state.inboundRefused,
      inboundStreams: 0,
      snapshotsReceiving: 0,
      peers: state.peers,
    }),
    alive: () => state.alive,
    liveSessions: async () => state.liveSessions,
    nodeStats: () => state.stats,
    requestCounts: () => state.requests,
  };
  return source;
}

/** The value of one sample line of the Prometheus text, e.g. value(text, 'x_total{peer="2"}'). */
function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

const servers: OpsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(state: FakeState, options: { defaultMetrics?: boolean; sampleIntervalMs?: number } = {}) {
  const source = fakeSource(state);
  const server = await startOpsServer({
    listen: { host: '127.0.0.1', port: 0 },
    source,
    sampleIntervalMs: options.sampleIntervalMs ?? 60_000,
    defaultMetrics: options.defaultMetrics ?? false,
  });
  servers.push(server);
  const url = (path: string): string => `http://127.0.0.1:${server.address.port}${path}`;
  return { server, source, url };
}

function healthyFollower(): FakeState {
  return {
    leader: 2,
    role: 'follower',
    term: 4,
    commit: 17,
    applied: 17,
    lastIndex: 18,
    alive: true,
    liveSessions: 5,
    peers: [
      peer(2, { messagesSent: 10, messagesReceived: 12, messagesDropped: 3, failures: 1, snapshotsSent: 2, snapshotsFailed: 1, bytesSent: 999 }),
      peer(3, { messagesSent: 7, messagesReceived: 6, snapshotsReceived: 1 }),
    ],
    inboundRefused: 4,
    stats: new NodeStats(() => 2),
    requests: [],
  };
}

/** Stats as a leader that served a few writes would have counted them (fake clock for round trips). */
function busyStats(): NodeStats {
  let nowMs = 0;
  const stats = new NodeStats(() => 2, () => nowMs);
  stats.proposalsCommitted = 40;
  stats.proposalFailed(new NotLeaderError(nodeId(2), undefined));
  stats.proposalFailed(new TimeoutError('write', 5));
  stats.proposalFailed(new TimeoutError('write', 5));
  for (const seconds of [0.0003, 0.003, 0.003, 9]) stats.appendFsync.observe(seconds);
  stats.apply.observe(0.001);
  stats.heartbeatSent(nodeId(2));
  nowMs = 1.5;
  stats.heartbeatAnswered(nodeId(2));
  stats.snapshotTaken(4096, 120);
  stats.snapshotInstalled(8192, 0.3);
  stats.sessionsExpired = 7;
  return stats;
}

describe('operations HTTP server', () => {
  it('binds the given loopback address and reports the real port', async () => {
    const { server } = await start(healthyFollower());
    expect(server.address.host).toBe('127.0.0.1');
    expect(server.address.port).toBeGreaterThan(0);
  });

  it('/healthz is 200 while the loop runs and 503 once it stopped', async () => {
    const state = healthyFollower();
    const { url } = await start(state);
    const ok = await fetch(url('/healthz'));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ok' });
    state.alive = false;
    const failed = await fetch(url('/healthz'));
    expect(failed.status).toBe(503);
    expect(await failed.json()).toMatchObject({ status: 'failed' });
  });

  it('/readyz is 200 with a leader and everything committed applied, else 503 with a reason', async () => {
    const state = healthyFollower();
    const { url } = await start(state);
    const ready = await fetch(url('/readyz'));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', leader: 2, term: 4, commitIndex: 17, appliedIndex: 17 });

    state.applied = 15;
    const behind = await fetch(url('/readyz'));
    expect(behind.status).toBe(503);
    expect(await behind.json()).toMatchObject({ status: 'not ready', reason: 'applied index 15 is behind commit index 17' });

    state.applied = 17;
    state.leader = 0;
    state.role = 'candidate';
    const leaderless = await fetch(url('/readyz'));
    expect(leaderless.status).toBe(503);
    expect(await leaderless.json()).toMatchObject({ reason: 'no leader known (term 4)' });

    state.leader = 2;
    state.alive = false;
    const dead = await fetch(url('/readyz'));
    expect(dead.status).toBe(503);
    expect(await dead.json()).toMatchObject({ reason: 'the node is not running' });
  });

  it('/metrics exports the node gauges, the peer counters and the live sessions', async () => {
    const { url } = await start(healthyFollower());
    const response = await fetch(url('/metrics'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(value(text, 'sessionraft_has_leader')).toBe(1);
    expect(value(text, 'sessionraft_is_leader')).toBe(0);
    expect(value(text, 'sessionraft_term')).toBe(4);
    expect(value(text, 'sessionraft_commit_index')).toBe(17);
    expect(value(text, 'sessionraft_applied_index')).toBe(17);
    expect(value(text, 'sessionraft_last_index')).toBe(18);
    expect(value(text, 'sessionraft_live_sessions')).toBe(5);
    expect(value(text, 'sessionraft_leader_changes_total')).toBe(1);
    expect(value(text, 'sessionraft_peer_messages_sent_total{peer="2"}')).toBe(10);
    expect(value(text, 'sessionraft_peer_messages_sent_total{peer="3"}')).toBe(7);
    expect(value(text, 'sessionraft_peer_messages_received_total{peer="2"}')).toBe(12);
    expect(value(text, 'sessionraft_peer_messages_dropped_total{peer="2"}')).toBe(3);
    expect(value(text, 'sessionraft_peer_bytes_sent_total{peer="2"}')).toBe(999);
    expect(value(text, 'sessionraft_peer_stream_failures_total{peer="2"}')).toBe(1);
    expect(value(text, 'sessionraft_peer_snapshots_sent_total{peer="2"}')).toBe(2);
    expect(value(text, 'sessionraft_peer_snapshots_failed_total{peer="2"}')).toBe(1);
    expect(value(text, 'sessionraft_peer_snapshots_received_total{peer="3"}')).toBe(1);
    expect(value(text, 'sessionraft_peer_inbound_refused_total')).toBe(4);
    expect(text).toMatch(/^# TYPE sessionraft_peer_messages_sent_total counter$/m);
    expect(text).toMatch(/^# TYPE sessionraft_term gauge$/m);
    expect(text).not.toMatch(/^process_/m); // defaultMetrics: false here
  });

  it('/metrics exports the NodeStats: proposals, fsync and apply histograms, round trips, snapshots, expirations', async () => {
    const state = healthyFollower();
    state.stats = busyStats();
    const { url } = await start(state);
    const text = await (await fetch(url('/metrics'))).text();
    expect(value(text, 'sessionraft_proposals_pending')).toBe(2);
    expect(value(text, 'sessionraft_proposals_committed_total')).toBe(40);
    expect(value(text, 'sessionraft_proposals_failed_total{reason="not_leader"}')).toBe(1);
    expect(value(text, 'sessionraft_proposals_failed_total{reason="timeout"}')).toBe(2);
    expect(value(text, 'sessionraft_proposals_failed_total{reason="overloaded"}')).toBe(0);
    expect(text).toMatch(/^# TYPE sessionraft_append_fsync_duration_seconds histogram$/m);
    expect(value(text, 'sessionraft_append_fsync_duration_seconds_bucket{le="0.0005"}')).toBe(1);
    expect(value(text, 'sessionraft_append_fsync_duration_seconds_bucket{le="0.004"}')).toBe(3);
    expect(value(text, 'sessionraft_append_fsync_duration_seconds_bucket{le="4.096"}')).toBe(3);
    expect(value(text, 'sessionraft_append_fsync_duration_seconds_bucket{le="+Inf"}')).toBe(4);
    expect(value(text, 'sessionraft_append_fsync_duration_seconds_count')).toBe(4);
    expect(value(text, 'sessionraft_append_fsync_duration_seconds_sum')).toBeCloseTo(9.0063);
    expect(value(text, 'sessionraft_apply_duration_seconds_count')).toBe(1);
    expect(value(text, 'sessionraft_peer_round_trip_time_seconds_bucket{peer="2",le="0.002"}')).toBe(1);
    expect(value(text, 'sessionraft_peer_round_trip_time_seconds_bucket{peer="2",le="0.001"}')).toBe(0);
    expect(value(text, 'sessionraft_peer_round_trip_time_seconds_sum{peer="2"}')).toBeCloseTo(0.0015);
    expect(value(text, 'sessionraft_snapshots_taken_total')).toBe(1);
    expect(value(text, 'sessionraft_snapshots_installed_total')).toBe(1);
    expect(value(text, 'sessionraft_snapshot_last_size_bytes')).toBe(8192);
    expect(value(text, 'sessionraft_snapshot_take_duration_seconds_bucket{le="0.25"}')).toBe(1);
    expect(value(text, 'sessionraft_snapshot_take_duration_seconds_bucket{le="0.1"}')).toBe(0);
    expect(value(text, 'sessionraft_snapshot_install_duration_seconds_count')).toBe(1);
    expect(value(text, 'sessionraft_sessions_expired_total')).toBe(7);
    // A second scrape copies the counters over again rather than adding them up.
    const again = await (await fetch(url('/metrics'))).text();
    expect(value(again, 'sessionraft_proposals_committed_total')).toBe(40);
    expect(value(again, 'sessionraft_append_fsync_duration_seconds_count')).toBe(4);
  });

  it('/metrics exports the request counts by method and code', async () => {
    const state = healthyFollower();
    state.requests = [
      { method: 'SessionService/Get', code: 'OK', count: 5 },
      { method: 'SessionService/Create', code: 'UNAVAILABLE', count: 2 },
      { method: 'SessionService/Batch/Get', code: 'NOT_FOUND', count: 1 },
    ];
    const { url } = await start(state);
    const text = await (await fetch(url('/metrics'))).text();
    expect(value(text, 'sessionraft_requests_total{method="SessionService/Get",code="OK"}')).toBe(5);
    expect(value(text, 'sessionraft_requests_total{method="SessionService/Create",code="UNAVAILABLE"}')).toBe(2);
    expect(value(text, 'sessionraft_requests_total{method="SessionService/Batch/Get",code="NOT_FOUND"}')).toBe(1);
  });

  it('reads the status once per scrape', async () => {
    const { url, source } = await start(healthyFollower());
    await (await fetch(url('/metrics'))).text();
    const before = source.statusCalls;
    await (await fetch(url('/metrics'))).text();
    expect(source.statusCalls - before).toBe(1);
  });

  it('counts each term in which a leader is seen, from scrapes and the periodic sampler', async () => {
    const state = healthyFollower();
    const { url, server } = await start(state, { sampleIntervalMs: 5 });
    const scrape = async (): Promise<number | undefined> =>
      value(await (await fetch(url('/metrics'))).text(), 'sessionraft_leader_changes_total');
    expect(await scrape()).toBe(1); // the first leader seen counts, as in etcd
    expect(await scrape()).toBe(1); // same term, same leader: no change
    state.leader = 0; // an election: no leader known
    state.term = 5;
    server.metrics.sample();
    expect(await scrape()).toBe(1);
    state.leader = 3; // seen by the sampler only (every 5 ms), between two scrapes
    await new Promise((resolve) => setTimeout(resolve, 200));
    state.leader = 0;
    state.term = 6;
    expect(await scrape()).toBe(2);
    state.leader = 3; // re-elected in a new term: a new leadership
    expect(await scrape()).toBe(3);
  });

  it('keeps the live session gauge at its last value while it cannot be read, and drops removed peers', async () => {
    const state = healthyFollower();
    state.liveSessions = undefined; // never read yet: prom-client's initial 0
    const { url } = await start(state);
    const first = await (await fetch(url('/metrics'))).text();
    expect(value(first, 'sessionraft_live_sessions')).toBe(0);
    state.peers = state.peers.slice(1);
    state.liveSessions = 9;
    const second = await (await fetch(url('/metrics'))).text();
    expect(value(second, 'sessionraft_live_sessions')).toBe(9);
    expect(value(second, 'sessionraft_peer_messages_sent_total{peer="2"}')).toBeUndefined();
    expect(value(second, 'sessionraft_peer_messages_sent_total{peer="3"}')).toBe(7);
    state.liveSessions = undefined; // the node refuses reads (stopping)
    const third = await (await fetch(url('/metrics'))).text();
    expect(value(third, 'sessionraft_live_sessions')).toBe(9);
  });

  it('exports the process and Node.js default metrics on its own registry', async () => {
    const a = await start(healthyFollower(), { defaultMetrics: true });
    const b = await start(healthyFollower(), { defaultMetrics: true }); // a second node in this process
    for (const { url } of [a, b]) {
      const text = await (await fetch(url('/metrics'))).text();
      expect(value(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
      expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
    }
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    const { url } = await start(healthyFollower());
    const missing = await fetch(url('/nope'));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'no such path: /nope' });
    expect((await fetch(url('/'))).status).toBe(404);
    expect((await fetch(url('/metrics/extra'))).status).toBe(404);
    expect((await fetch(url('/healthz?verbose=1'))).status).toBe(200); // a query string is ignored
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD']) {
      const response = await fetch(url('/metrics'), { method });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toBe('GET');
    }
  });

  it('close() stops serving and is idempotent', async () => {
    const { url, server } = await start(healthyFollower());
    expect((await fetch(url('/healthz'))).status).toBe(200);
    await Promise.all([server.close(), server.close()]);
    await expect(fetch(url('/healthz'))).rejects.toThrow();
  });
});

describe('parseListenAddress', () => {
  it('accepts HOST:PORT and [IPv6]:PORT and refuses anything else', () => {
    expect(parseListenAddress('127.0.0.1:8001')).toEqual({ host: '127.0.0.1', port: 8001 });
    expect(parseListenAddress('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseListenAddress('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    for (const bad of ['8001', ':8001', '127.0.0.1', '127.0.0.1:65536', '::1:80', 'host:port', 'a b:1']) {
      expect(() => parseListenAddress(bad), bad).toThrow(/expected HOST:PORT/);
    }
  });
});

describe('nodeOpsSource', () => {
  function fakeNode(sessions: number) {
    let resolveFailed!: (error: Error) => void;
    let refuseReads = false;
    const node: OpsNode = {
      stats: new NodeStats(() => 0),
      status: () => fakeStatus(healthyFollower()),
      read: async (query) => {
        if (refuseReads) throw new Error('shutting down');
        return query({ get: () => undefined, listByClient: () => [], count: (nowMs) => (nowMs === 1_000 ? sessions : -1) }, logIndex(17), 1_000);
      },
      failed: { promise: new Promise<Error>((resolve) => (resolveFailed = resolve)) },
    };
    const transport = { stats: () => ({ ...peer(0), inboundRefused: 0, inboundStreams: 0, snapshotsReceiving: 0, peers: [peer(2)] }) };
    return { node, transport, fail: () => resolveFailed(new Error('broken invariant')), refuseReads: () => (refuseReads = true) };
  }

  it('is alive until the loop fails', async () => {
    const { node, transport, fail } = fakeNode(3);
    const source = nodeOpsSource(node, transport);
    expect(source.alive()).toBe(true);
    fail();
    await Promise.resolve();
    expect(source.alive()).toBe(false);
  });

  it('is not alive once the node is stopping', () => {
    const { node, transport } = fakeNode(3);
    const source = nodeOpsSource(node, transport);
    source.markStopping();
    expect(source.alive()).toBe(false);
  });

  it('counts live sessions with a stale read at the node clock, undefined when reads are refused', async () => {
    const { node, transport, refuseReads } = fakeNode(42);
    const source = nodeOpsSource(node, transport);
    expect(await source.liveSessions()).toBe(42);
    expect(source.transportStats().peers.map((p) => p.id)).toEqual([2]);
    expect(source.status().raft.term).toBe(4);
    refuseReads();
    expect(await source.liveSessions()).toBeUndefined();
  });

  it('reads the node\'s stats and the request counter it was given (none: no counts)', () => {
    const { node, transport } = fakeNode(1);
    expect(nodeOpsSource(node, transport).nodeStats()).toBe(node.stats);
    expect([...nodeOpsSource(node, transport).requestCounts()]).toEqual([]);
    const counts = [{ method: 'SessionService/Get', code: 'OK', count: 1 }];
    expect([...nodeOpsSource(node, transport, { counts: () => counts }).requestCounts()]).toEqual(counts);
  });
});
