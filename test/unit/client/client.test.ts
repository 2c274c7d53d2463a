/** SessionClient against real gRPC servers over fake backends. */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CancelledError,
  DeadlineExceededError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  SessionClient,
  UnavailableError,
  VersionMismatchError,
  connect,
  type ConnectOptions,
} from '../../../src/client/index.js';
import { NotLeaderError } from '../../../src/node/index.js';
import { nodeId } from '../../../src/raft/index.js';
import { freePorts } from '../../integration/harness.js';
import { FakeBackend } from '../server/fake-backend.js';
import { countingInterceptor, startServer, type TestServer } from '../server/harness.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function serve(backend = new FakeBackend(), serverOptions: grpc.ServerOptions = {}): Promise<TestServer> {
  const server = await startServer(backend, {}, undefined, serverOptions);
  cleanups.push(() => server.close());
  return server;
}

async function client(options: ConnectOptions): Promise<SessionClient> {
  const c = await connect({ retryBackoffMs: 5, ...options });
  cleanups.push(() => c.close());
  return c;
}

describe.each(['stream', 'unary'] as const)('SessionClient (%s)', (mode) => {
  it('creates, reads, updates, touches, lists, counts and deletes', async () => {
    const server = await serve();
    const c = await client({ endpoints: [server.address], mode });
    const created = await c.create({ clientId: 'client-a', transport: 'sse', data: { cart: [1, 2] }, ttlMs: 60_000 }, { durability: 'async' });
    expect(created.durability).toBe('async');
    expect(created.session).toMatchObject({ clientId: 'client-a', transport: 'sse', data: { cart: [1, 2] }, ttlMs: 60_000, version: 1 });
    const id = created.session.sessionId;

    const got = await c.get(id, { consistency: 'stale', minIndex: created.index });
    expect(got.session).toMatchObject({ sessionId: id, clientId: 'client-a', data: { cart: [1, 2] }, version: 1 });
    expect(got.session.createdAtMs).toBeGreaterThan(0); // the ASYNC create's answer had no times yet
    expect(server.backend.reads.at(-1)).toMatchObject({ consistency: 'stale', minIndex: created.index });

    const updated = await c.update(id, { data: { cart: null, user: 'ann' }, expectedVersion: 1, ttlMs: 90_000 });
    expect(updated.session).toMatchObject({ data: { user: 'ann' }, version: 2, ttlMs: 90_000 });
    expect((await c.touch(id)).session?.version).toBe(3);
    const asyncTouch = await c.touch(id, { durability: 'async' });
    expect(asyncTouch.session).toBeUndefined(); // answered before apply
    expect((await c.get(id, { minIndex: asyncTouch.index })).session.version).toBe(4);

    await c.create({ clientId: 'client-a', transport: 'sse' });
    await c.create({ clientId: 'client-a', transport: 'sse' });
    const page = await c.list('client-a', { pageSize: 2 });
    expect(page.sessions).toHaveLength(2);
    expect(page.nextPageToken).not.toBe('');
    const all: string[] = [];
    for await (const session of c.listAll('client-a', { pageSize: 1 })) all.push(session.sessionId);
    expect(all).toHaveLength(3);
    expect((await c.count('client-a')).count).toBe(3);
    expect((await c.count()).count).toBe(3);

    expect((await c.delete(id)).deleted).toBe(1);
    expect((await c.deleteByClient('client-a')).deleted).toBe(2);
    expect((await c.count()).count).toBe(0);
    const status = await c.status();
    expect(status).toMatchObject({ nodeId: 1, role: 'leader', clusterId: 'test-cluster' });
  });

  it('throws typed errors with the grpc code and the server message', async () => {
    const server = await serve();
    const c = await client({ endpoints: [server.address], mode });
    const missing = await c.get(randomUUID()).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as NotFoundError).code).toBe(grpc.status.NOT_FOUND);
    expect((missing as NotFoundError).codeName).toBe('NOT_FOUND');

    const bad = await c.get('a.b').catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidArgumentError);
    expect((bad as Error).message).toMatch(/^session_id: /);

    const { session } = await c.create({ clientId: 'c', transport: 'http' });
    const conflict = await c.update(session.sessionId, { data: { a: 1 }, expectedVersion: 7 }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(VersionMismatchError);
    expect((conflict as Error).message).toMatch(/version 1, not the expected 7/);
    expect(server.backend.writes.filter((w) => w.command.type === 'update')).toHaveLength(1);
  });

  it('follows UNAVAILABLE + x-leader-address to the leader and stays there', async () => {
    const leader = await serve();
    const followerBackend = new FakeBackend();
    followerBackend.follower = { leaderId: 2, leaderAddress: leader.address };
    const follower = await serve(followerBackend);
    const c = await client({ endpoints: [follower.address], mode });
    const created = await c.create({ clientId: 'c', transport: 'http' });
    expect(leader.backend.sessions.has(created.session.sessionId)).toBe(true);
    expect(followerBackend.writes).toHaveLength(1); // refused there, nothing applied
    expect(followerBackend.sessions.size).toBe(0);
    expect(c.currentEndpoint).toBe(leader.address);
    await c.touch(created.session.sessionId);
    expect(followerBackend.writes).toHaveLength(1);
  });

  it('with the default options, retries through an election of 2.5 s (the deadline bounds it, not a count)', async () => {
    const [a, b] = [new FakeBackend(), new FakeBackend()];
    a.follower = b.follower = { leaderId: 0, leaderAddress: '' };
    const servers = [await serve(a), await serve(b)];
    const c = await connect({ endpoints: servers.map((s) => s.address), mode });
    cleanups.push(() => c.close());
    const electedAtMs = Date.now() + 2_500;
    const elected = setTimeout(() => (b.follower = undefined), 2_500);
    cleanups.push(() => clearTimeout(elected));
    const created = await c.create({ clientId: 'c', transport: 'http' });
    expect(Date.now()).toBeGreaterThanOrEqual(electedAtMs);
    expect(b.sessions.has(created.session.sessionId)).toBe(true);
    expect(a.writes.length + b.writes.length).toBeLessThanOrEqual(21);
  });

  it('with no leader known, tries the next endpoint', async () => {
    const leader = await serve();
    const leaderless = new FakeBackend();
    leaderless.follower = { leaderId: 0, leaderAddress: '' };
    const follower = await serve(leaderless);
    const c = await client({ endpoints: [follower.address, leader.address], mode, connectTimeoutMs: 2_000 });
    // connect() may pick either endpoint first; either way the write lands on the leader.
    await c.create({ clientId: 'c', transport: 'http' });
    expect(leader.backend.sessions.size).toBe(1);
  });

  it('gives up after retriesMax redirects', async () => {
    const a = new FakeBackend();
    const b = new FakeBackend();
    const serverA = await serve(a);
    const serverB = await serve(b);
    a.follower = { leaderId: 2, leaderAddress: serverB.address };
    b.follower = { leaderId: 1, leaderAddress: serverA.address };
    const c = await client({ endpoints: [serverA.address], mode, retriesMax: 3 });
    const error = await c.create({ clientId: 'c', transport: 'http' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).leader).toBeDefined();
    expect(a.writes.length + b.writes.length).toBe(4);
  });

  it('gives every write a request id: its own random clientId per instance and seq from 1, or the caller\'s', async () => {
    const server = await serve();
    const c = await client({ endpoints: [server.address], mode });
    const { session } = await c.create({ clientId: 'c', transport: 'http' });
    await c.update(session.sessionId, { data: { a: 1 } });
    await c.touch(session.sessionId, { durability: 'async' });
    await c.touch(session.sessionId, { requestId: { clientId: 'mine', seq: 7 } });
    await c.delete(session.sessionId);
    await c.deleteByClient('c');
    const ids = server.backend.writes.map((w) => w.options.requestId);
    const own = ids[0]!.clientId;
    expect(own).toMatch(/^sdk-[0-9a-f-]{36}$/);
    expect(ids).toEqual([
      { clientId: own, seq: 1 },
      { clientId: own, seq: 2 },
      { clientId: own, seq: 3 },
      { clientId: 'mine', seq: 7 },
      { clientId: own, seq: 4 },
      { clientId: own, seq: 5 },
    ]);

    const other = await client({ endpoints: [server.address], mode });
    await other.create({ clientId: 'c', transport: 'http' });
    const otherId = server.backend.writes.at(-1)!.options.requestId;
    expect(otherId?.seq).toBe(1);
    expect(otherId?.clientId).toMatch(/^sdk-/);
    expect(otherId?.clientId).not.toBe(own);
  });

  it('reads at the index of its latest answered write unless told otherwise (read your writes, on any node)', async () => {
    const leader = await serve();
    leader.backend.index = 40;
    const followerBackend = new FakeBackend();
    followerBackend.follower = { leaderId: 1, leaderAddress: leader.address };
    const follower = await serve(followerBackend);
    const c = await client({ endpoints: [follower.address, leader.address], mode });
    await c.count('', { consistency: 'stale' });
    expect([...leader.backend.reads, ...followerBackend.reads].map((r) => r.minIndex)).toEqual([0]); // no write yet

    const created = await c.create({ clientId: 'c', transport: 'http' }); // wherever it went first, the leader applies it
    expect(created.index).toBe(41);
    await c.get(created.session.sessionId);
    expect(leader.backend.reads.at(-1)).toMatchObject({ consistency: 'linearizable', minIndex: 41 });
    const touched = await c.touch(created.session.sessionId, { durability: 'async' });
    expect(touched.index).toBe(42);
    await c.list('c');
    expect(leader.backend.reads.at(-1)?.minIndex).toBe(42);
    await c.count('c', { minIndex: 0 });
    expect(leader.backend.reads.at(-1)?.minIndex).toBe(0);
    await c.count('c', { minIndex: 5 });
    expect(leader.backend.reads.at(-1)?.minIndex).toBe(5);

    // The leader drops out without naming another: the stale read goes to the follower, with the index.
    leader.backend.failNext = new NotLeaderError(nodeId(0), undefined);
    await c.get(created.session.sessionId, { consistency: 'stale' }).catch(() => undefined); // the follower has no such session
    expect(followerBackend.reads.at(-1)).toMatchObject({ consistency: 'stale', minIndex: 42 });
  });

  it('a deadline ends the call with DeadlineExceededError; an abort with CancelledError', async () => {
    const server = await serve();
    const release = server.backend.hold();
    cleanups.push(release);
    const c = await client({ endpoints: [server.address], mode });
    const started = Date.now();
    const late = await c.count('', { deadlineMs: 150 }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeLessThan(2_000);

    const controller = new AbortController();
    const pending = c.count('', { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 20);
    expect(await pending).toBeInstanceOf(CancelledError);
  });
});

describe('SessionClient stream mode', () => {
  it('sends the calls of one turn in one BatchRequest and matches answers by id', async () => {
    const counts = new Map<string, number>();
    const server = await serve(new FakeBackend(), { interceptors: [countingInterceptor(counts)] });
    const c = await client({ endpoints: [server.address] });
    const created = await Promise.all(Array.from({ length: 50 }, (_, i) => c.create({ clientId: `client-${i}`, transport: 'ws', data: { i } })));
    expect(counts.get('/sessionraft.v1.SessionService/Batch')).toBe(1);
    created.forEach((result, i) => expect(result.session).toMatchObject({ clientId: `client-${i}`, data: { i } }));
    const got = await Promise.all(created.map((r) => c.get(r.session.sessionId)));
    got.forEach((result, i) => expect(result.session.sessionId).toBe(created[i]!.session.sessionId));
    expect(counts.get('/sessionraft.v1.SessionService/Batch')).toBe(2);
    expect(counts.get('/sessionraft.v1.SessionService/Create')).toBeUndefined();
  });

  it('cuts a BatchRequest at batchRequestBytesMax', async () => {
    const counts = new Map<string, number>();
    const server = await serve(new FakeBackend(), { interceptors: [countingInterceptor(counts)] });
    const c = await client({ endpoints: [server.address], batchRequestBytesMax: 10_000 });
    const data = { blob: 'b'.repeat(4_000) };
    await Promise.all(Array.from({ length: 6 }, () => c.create({ clientId: 'c', transport: 'ws', data })));
    expect(counts.get('/sessionraft.v1.SessionService/Batch')).toBe(3);
  });

  it('bounds the calls waiting per endpoint', async () => {
    const server = await serve();
    const release = server.backend.hold();
    cleanups.push(release);
    const c = await client({ endpoints: [server.address], pendingCallsMax: 2 });
    const first = c.count();
    const second = c.count();
    await expect(c.count()).rejects.toBeInstanceOf(ResourceExhaustedError);
    release();
    expect((await first).count).toBe(0);
    expect((await second).count).toBe(0);
  });

  it('a read or a write in flight when its node dies is retried on the next endpoint, the write with its request id', async () => {
    const doomed = await serve();
    const healthyBackend = new FakeBackend();
    healthyBackend.follower = { leaderId: 1, leaderAddress: doomed.address };
    const healthy = await serve(healthyBackend);
    const c = await client({ endpoints: [healthy.address] });
    await c.create({ clientId: 'c', transport: 'http' }); // redirected: the client now uses `doomed`
    expect(c.currentEndpoint).toBe(doomed.address);
    healthyBackend.follower = undefined;
    const release = doomed.backend.hold();
    cleanups.push(release);
    const read = c.count();
    const write = c.create({ clientId: 'c', transport: 'http' }).catch((e: unknown) => e);
    await expect.poll(() => doomed.backend.reads.length + doomed.backend.writes.length).toBe(3);
    doomed.server.forceShutdown();
    // Both retry after a jittered pause: the read may run before or after the write's retry.
    expect([0, 1]).toContain((await read).count);
    expect(healthyBackend.reads.length).toBe(1);
    const written = await write;
    expect(written).toMatchObject({ session: { clientId: 'c' } });
    expect(healthyBackend.writes).toHaveLength(2); // the first, refused, create and the retry
    const lost = doomed.backend.writes.at(-1)!.options.requestId;
    expect(lost).toMatchObject({ seq: 2 });
    expect(healthyBackend.writes[1]!.options.requestId).toEqual(lost);
  });
  it('a write that may have been applied does not end with a "nothing was proposed" leader hint after refused retries', async () => {
    const doomed = await serve();
    const refusingBackend = new FakeBackend();
    refusingBackend.follower = { leaderId: 1, leaderAddress: doomed.address };
    const refusing = await serve(refusingBackend);
    const c = await client({ endpoints: [refusing.address], retriesMax: 3 });
    await c.create({ clientId: 'c', transport: 'http' }); // redirected: the client now uses `doomed`
    const release = doomed.backend.hold();
    cleanups.push(release);
    const write = c.create({ clientId: 'c', transport: 'http' }).catch((e: unknown) => e);
    await expect.poll(() => doomed.backend.writes.length).toBe(2);
    doomed.server.forceShutdown(); // the write's outcome is unknown; every retry is refused or finds no server
    const error = await write;
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).leader).toBeUndefined();
    expect((error as Error).message).toMatch(/an earlier attempt's outcome is unknown/);
    expect(((error as Error).cause as UnavailableError).leader).toBeDefined();
    const sent = doomed.backend.writes[1]!.options.requestId;
    expect(refusingBackend.writes.slice(1).map((w) => w.options.requestId)).toEqual(refusingBackend.writes.slice(1).map(() => sent));
    expect(refusingBackend.writes.length).toBeGreaterThan(1);
  });
});

describe('connect', () => {
  it('rejects nonsense options and unreachable clusters', async () => {
    await expect(connect({ endpoints: [] })).rejects.toThrow(RangeError);
    await expect(connect({ endpoints: ['no-port'] })).rejects.toThrow(/host:port/);
    await expect(connect({ endpoints: ['127.0.0.1:1'], connectTimeoutMs: 200 })).rejects.toBeInstanceOf(UnavailableError);
  });
});

describe('close', () => {
  /** The time from the child's "closed" line to its exit, for a client of one live and one dead endpoint. */
  async function exitAfterCloseMs(first: string, second: string): Promise<{ code: number | null; ms: number; stderr: string }> {
    const clientModule = pathToFileURL(path.join(repoRoot, 'src/client/index.ts')).href;
    const script = `
      const { connect } = await import(${JSON.stringify(clientModule)});
      const client = await connect({ endpoints: ${JSON.stringify([first, second])} });
      client.close();
      process.stdout.write('closed\\n');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => void child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    let closedAtMs: number | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      if (closedAtMs === undefined && chunk.toString('utf8').includes('closed')) closedAtMs = Date.now();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
    return { code, ms: closedAtMs === undefined ? Infinity : Date.now() - closedAtMs, stderr };
  }

  it('lets the process exit at once even with an endpoint down', async () => {
    const server = await serve();
    const [deadPort] = await freePorts(1);
    const dead = `127.0.0.1:${deadPort}`;
    for (const [first, second] of [
      [server.address, dead],
      [dead, server.address],
    ]) {
      const exit = await exitAfterCloseMs(first!, second!);
      expect(exit, exit.stderr).toMatchObject({ code: 0 });
      expect(exit.ms, `${first}, ${second}: exit ${exit.ms} ms after close()`).toBeLessThan(500);
    }
  });
});
