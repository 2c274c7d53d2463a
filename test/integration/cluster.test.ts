/**
 * A real three-node cluster: separate node processes on loopback, LevelDB on disk, the real gRPC
 * API and client. Writes go through the leader, reads on every node, kill -9 of the leader loses
 * no acknowledged SYNC write, a restarted node catches up, both durabilities, unary and stream.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, SessionClient, UnavailableError, type Session } from '../../src/client/index.js';
import { TestCluster, sleep } from './harness.js';

let cluster: TestCluster;
let client: SessionClient;

async function clientFor(endpoint: string, mode: 'stream' | 'unary' = 'stream'): Promise<SessionClient> {
  return SessionClient.connect({ endpoints: [endpoint], mode, retriesMax: 0 });
}

/** Creates `count` sessions with SYNC durability; returns what the cluster acknowledged. */
async function createAcknowledged(count: number, clientId: string): Promise<Map<string, Session>> {
  const acknowledged = new Map<string, Session>();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const { session } = await client.create({ clientId, transport: 'http', data: { i } }, { durability: 'sync' });
      acknowledged.set(session.sessionId, session);
    }),
  );
  return acknowledged;
}

beforeAll(async () => {
  cluster = await TestCluster.start({ nodes: 3, faultFiles: true, nodeArgs: ['--snapshot-entries', '200', '--sweep-ms', '300'] });
  await cluster.waitForLeader();
  client = await SessionClient.connect({ endpoints: [...cluster.endpoints], retriesMax: 10 });
}, 60_000);

// Only the tests' own signals may stop a node: a crash fails the test that was running, with the node's log.
afterEach(() => {
  expect(cluster.unexpectedExits, cluster.describeUnexpectedExits()).toEqual([]);
});

afterAll(async () => {
  client?.close();
  await cluster?.close();
});

describe('a three-node cluster of real processes', () => {
  it('replicates a SYNC write to every node; each node serves it with min_index and linearizably', async () => {
    const { session, index } = await client.create({ clientId: 'alice', transport: 'http', data: { cart: [1, 2] } });
    expect(session.version).toBe(1);
    for (const endpoint of cluster.endpoints) {
      const node = await clientFor(endpoint);
      try {
        const stale = await node.get(session.sessionId, { consistency: 'stale', minIndex: index });
        expect(stale.session).toMatchObject({ sessionId: session.sessionId, clientId: 'alice', data: { cart: [1, 2] } });
        const linearizable = await node.get(session.sessionId);
        expect(linearizable.session.version).toBe(1);
        expect(linearizable.index).toBeGreaterThanOrEqual(index);
      } finally {
        node.close();
      }
    }
  });

  it('answers a write on a follower with UNAVAILABLE and the leader address in trailing metadata', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader)!;
    const node = await clientFor(cluster.address(follower));
    try {
      const error = await node.create({ clientId: 'bob', transport: 'http' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as UnavailableError).code).toBe(grpc.status.UNAVAILABLE);
      expect((error as UnavailableError).leader).toMatchObject({ id: leader, address: cluster.address(leader) });
    } finally {
      node.close();
    }
  });

  it('acknowledges an ASYNC write at its index; a follower serves it once applied', async () => {
    const { session, index, durability } = await client.create(
      { clientId: 'carol', transport: 'sse', data: { theme: 'dark' } },
      { durability: 'async' },
    );
    expect(durability).toBe('async');
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader)!;
    const node = await clientFor(cluster.address(follower));
    try {
      const read = await node.get(session.sessionId, { consistency: 'stale', minIndex: index });
      expect(read.session).toMatchObject({ clientId: 'carol', data: { theme: 'dark' }, version: 1 });
      expect(read.session.createdAtMs).toBeGreaterThan(0);
    } finally {
      node.close();
    }
  });

  it('answers an ASYNC create retried with the same request id with the first session', async () => {
    const requestId = { clientId: `it-${process.pid}`, seq: 1 };
    const first = await client.create({ clientId: 'ivy', transport: 'http' }, { durability: 'async', requestId });
    const retry = await client.create({ clientId: 'ivy', transport: 'http' }, { durability: 'async', requestId });
    expect(retry.session.sessionId).toBe(first.session.sessionId);
    expect(retry.index).toBe(first.index);
    expect((await client.count('ivy', { minIndex: first.index })).count).toBe(1);
  });

  it('serves every operation through unary calls as well as the stream', async () => {
    const leader = await cluster.waitForLeader();
    const unary = await clientFor(cluster.address(leader), 'unary');
    try {
      const { session } = await unary.create({ clientId: 'dave', transport: 'ws', data: { a: 1 } });
      const updated = await unary.update(session.sessionId, { data: { b: 2 }, expectedVersion: 1 });
      expect(updated.session).toMatchObject({ data: { a: 1, b: 2 }, version: 2 });
      const touched = await unary.touch(session.sessionId);
      expect(touched.session?.version).toBe(3);
      expect((await unary.list('dave')).sessions.map((s) => s.sessionId)).toEqual([session.sessionId]);
      expect((await unary.count('dave')).count).toBe(1);
      expect((await unary.deleteByClient('dave')).deleted).toBe(1);
      await expect(unary.get(session.sessionId)).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      unary.close();
    }
  });

  it('survives kill -9 of the leader: no acknowledged SYNC write is lost, a new leader takes writes', async () => {
    const before = await createAcknowledged(300, 'erin');
    const oldLeader = await cluster.waitForLeader();
    await cluster.signal(oldLeader, 'SIGKILL');
    const newLeader = await cluster.waitForLeader();
    expect(newLeader).not.toBe(oldLeader);

    const after = await client.create({ clientId: 'erin', transport: 'http', data: { after: true } });
    expect(after.index).toBeGreaterThan(0);
    const listed = new Set<string>();
    let pageToken = '';
    do {
      const page = await client.list('erin', { pageSize: 1000, pageToken });
      for (const s of page.sessions) listed.add(s.sessionId);
      pageToken = page.nextPageToken;
    } while (pageToken);
    for (const id of before.keys()) expect(listed.has(id), `acknowledged session ${id} lost`).toBe(true);
    expect(listed.has(after.session.sessionId)).toBe(true);

    // The killed node restarts from its disk and catches up through a snapshot: writes go on, one
    // at a time (writes that arrive together share one batch entry, and the log must grow), until
    // the new leader has compacted its log past the index at which the old leader died.
    const diedAt = after.index;
    const leaderLog = cluster.logPath(newLeader);
    const compactedPast = (): boolean =>
      readFileSync(leaderLog, 'utf8')
        .split('\n')
        .some((line) => line.includes('snapshot taken, log compacted') && (JSON.parse(line) as { index: number }).index > diedAt);
    for (let i = 0; !compactedPast(); i++) {
      expect(i, 'the new leader never compacted its log').toBeLessThan(5_000);
      await client.create({ clientId: 'frank', transport: 'http', data: { i } });
    }
    cluster.startNode(oldLeader);
    const { index } = await client.create({ clientId: 'frank', transport: 'http' });
    await cluster.waitForApplied(index);
    const digests = await Promise.all(cluster.ids.map(async (id) => (await cluster.status(id)).stateDigest));
    expect(new Set(digests).size).toBe(1);
    expect(readFileSync(cluster.logPath(oldLeader), 'utf8')).toMatch(/installing snapshot from leader/);
  });

  it('a leader cut off from both followers steps down; the majority elects another and takes writes; after the heal every node agrees', async () => {
    const oldLeader = await cluster.waitForLeader();
    const direct = await clientFor(cluster.address(oldLeader));
    await cluster.isolate(oldLeader);
    try {
      // A SYNC write the cut-off leader took cannot commit: it is answered when the leader steps
      // down (check-quorum, about an election timeout), not at its 8 s deadline.
      const started = Date.now();
      const stranded = await direct.create({ clientId: 'ivy', transport: 'http' }, { deadlineMs: 8_000 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(stranded).toBeInstanceOf(UnavailableError);
      expect((stranded as Error).message).toMatch(/outcome is unknown|not the leader/);
      expect(Date.now() - started).toBeLessThan(6_000);

      const newLeader = await cluster.waitForLeader(20_000, oldLeader);
      expect(newLeader).not.toBe(oldLeader);
      // The client may first reach the cut-off node; with a request id its retry is exactly-once.
      const { session, index } = await client.create({ clientId: 'ivy', transport: 'http' }, { requestId: { clientId: 'it-partition', seq: 1 } });
      // Check-quorum: within about an election timeout the isolated node stops claiming to lead,
      // and it cannot serve a linearizable read (its ReadIndex round gets no quorum).
      const deadline = Date.now() + 10_000;
      while ((await cluster.status(oldLeader)).role === 'leader' && Date.now() < deadline) await sleep(50);
      expect((await cluster.status(oldLeader)).role).not.toBe('leader');
      const isolated = await clientFor(cluster.address(oldLeader));
      try {
        await expect(isolated.get(session.sessionId, { deadlineMs: 1_000 })).rejects.toThrow();
        expect((await cluster.status(oldLeader)).appliedIndex).toBeLessThan(index);
      } finally {
        isolated.close();
      }
    } finally {
      direct.close();
      await cluster.healNetwork();
    }
    const { index } = await client.create({ clientId: 'ivy', transport: 'http' });
    await cluster.waitForApplied(index);
    const digests = await Promise.all(cluster.ids.map(async (id) => (await cluster.status(id)).stateDigest));
    expect(new Set(digests).size).toBe(1);
    expect(readFileSync(cluster.logPath(oldLeader), 'utf8')).toMatch(/fault injection: outgoing Raft messages blocked/);
  });

  it('hands leadership off on SIGTERM and the stopped node rejoins on restart', async () => {
    const leader = await cluster.waitForLeader();
    const started = Date.now();
    await cluster.signal(leader, 'SIGTERM');
    const next = await cluster.waitForLeader();
    expect(next).not.toBe(leader);
    // A handoff, not an election timeout: well under the 0.5-1 s timeout plus detection.
    expect(Date.now() - started).toBeLessThan(10_000);
    const log = cluster.logTails(200);
    expect(log).toMatch(/leadership transferred/);
    cluster.startNode(leader);
    const { index } = await client.create({ clientId: 'gina', transport: 'http' });
    await cluster.waitForApplied(index);
  });

  it('expires an idle session: hidden from reads at once, then deleted by the leader sweep', async () => {
    const { session } = await client.create({ clientId: 'henry', transport: 'http', ttlMs: 1_000 });
    expect((await client.get(session.sessionId)).session.expiresAtMs).toBe(session.createdAtMs + 1_000);
    await sleep(1_200);
    await expect(client.get(session.sessionId)).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    expect((await client.count('henry')).count).toBe(0);
    const deadline = Date.now() + 5_000;
    while (!/expired idle sessions/.test(cluster.logTails(400)) && Date.now() < deadline) await sleep(100);
    expect(cluster.logTails(400)).toMatch(/expired idle sessions/);
  });

  it('creates a session under an id the caller chose; a second create of that live id is ALREADY_EXISTS', async () => {
    const sessionId = `express-${Date.now().toString(36)}_A`;
    const { session, index } = await client.create({ sessionId, clientId: 'jane', transport: 'http', data: { n: 1 } });
    expect(session.sessionId).toBe(sessionId);
    expect((await client.get(sessionId, { minIndex: index })).session.data).toEqual({ n: 1 });
    const again = await client.create({ sessionId, clientId: 'jane', transport: 'http' }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(AlreadyExistsError);
    expect((again as AlreadyExistsError).code).toBe(grpc.status.ALREADY_EXISTS);
    expect((again as Error).message).toBe(`session ${sessionId} already exists`);
    expect((await client.get(sessionId)).session.data).toEqual({ n: 1 });
  });

  it('rejects bad input with INVALID_ARGUMENT naming the field, and writes nothing', async () => {
    const leader = await cluster.waitForLeader();
    const before = await cluster.status(leader);
    await expect(client.get('not a valid id')).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      message: expect.stringContaining('session_id'),
    });
    await expect(client.create({ clientId: '', transport: 'http' })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      message: expect.stringContaining('client_id'),
    });
    await expect(
      client.create({ clientId: 'x', transport: 'http', data: { blob: 'x'.repeat(70_000) } }),
    ).rejects.toMatchObject({ message: expect.stringContaining('data') });
    await sleep(200);
    const after = await cluster.status(leader);
    // Only heartbeats may have happened: no entry was appended for the rejected writes.
    expect(after.commitIndex).toBe(before.commitIndex);
  });
});
