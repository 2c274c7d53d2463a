/** SessionService and AdminService unary methods through real gRPC over a fake backend. */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  NodeError,
  OverloadedError,
  ProposalDroppedError,
  ShuttingDownError,
  TimeoutError,
} from '../../../src/node/index.js';
import { FakeBackend } from './fake-backend.js';
import { rawAdminClient, rawSessionClient, startServer, unary, type RawClient, type TestServer } from './harness.js';

let server: TestServer;
let client: RawClient;
let backend: FakeBackend;

beforeAll(async () => {
  server = await startServer();
  client = rawSessionClient(server.address);
});
afterAll(async () => {
  client.close();
  await server.close();
});
beforeEach(() => {
  backend = server.backend;
  backend.sessions.clear();
  backend.writes.length = 0;
  backend.reads.length = 0;
  backend.follower = undefined;
  backend.failNext = undefined;
});

async function create(fields: Record<string, unknown> = {}): Promise<any> {
  const { error, response } = await unary(client, 'Create', { clientId: 'client-a', transport: 'http', dataJson: '{"user":"ann"}', ...fields });
  expect(error).toBeNull();
  return response;
}

describe('SessionService unary', () => {
  it('Create generates a UUID, stamps the default TTL and answers with the index and durability', async () => {
    const response = await create();
    expect(response.session.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(JSON.parse(response.session.dataJson)).toEqual({ user: 'ann' });
    expect(response.session.version).toBe(1);
    expect(response.session.ttlMs).toBe(3_600_000);
    expect(response.index).toBe(backend.index);
    expect(response.durability).toBe('DURABILITY_SYNC');
    const command = backend.writes[0]!.command;
    expect(command).toMatchObject({ type: 'create', clientId: 'client-a', transport: 'http', ttlMs: 3_600_000, maxLifetimeMs: 0 });
  });

  it("puts the data's measured size into the create command (the replicas take it instead of measuring again)", async () => {
    // Re-encoded size, not the sent text's: spaces do not count, a two-byte character counts twice.
    await create({ dataJson: '{ "user" : "ánn" }' });
    expect(backend.writes[0]!.command).toMatchObject({ type: 'create', data: { user: 'ánn' }, dataBytes: Buffer.byteLength('{"user":"ánn"}') });
    await create({ dataJson: '' });
    expect(backend.writes[1]!.command).toMatchObject({ data: {}, dataBytes: 2 });
  });

  it('passes durability and request id through to the backend', async () => {
    const response = await create({ durability: 'DURABILITY_ASYNC', requestId: { clientId: 'sdk-1', seq: 7 }, ttlMs: 60_000 });
    expect(response.durability).toBe('DURABILITY_ASYNC');
    expect(backend.writes[0]!.options).toMatchObject({ durability: 'async', requestId: { clientId: 'sdk-1', seq: 7 } });
    expect(response.session.ttlMs).toBe(60_000);
  });

  it('an ASYNC write is answered before apply: a create with the session as requested, an update with none', async () => {
    const created = await create({ durability: 'DURABILITY_ASYNC', ttlMs: 60_000 });
    expect(created.durability).toBe('DURABILITY_ASYNC');
    expect(created.session).toMatchObject({ clientId: 'client-a', transport: 'http', ttlMs: 60_000, version: 1, createdAtMs: 0 });
    expect(JSON.parse(created.session.dataJson)).toEqual({ user: 'ann' });
    const id = created.session.sessionId;
    expect(backend.sessions.has(id)).toBe(true);
    const updated = await unary(client, 'Update', { sessionId: id, dataJson: '{"x":1}', durability: 'DURABILITY_ASYNC' });
    expect(updated.error).toBeNull();
    expect(updated.response.session).toBeNull();
    expect(updated.response.index).toBe(backend.index);
    const read = await unary(client, 'Get', { sessionId: id, minIndex: updated.response.index });
    expect(JSON.parse(read.response.session.dataJson)).toEqual({ user: 'ann', x: 1 });
  });

  it('Get returns the session and the applied index; a missing one is NOT_FOUND', async () => {
    const created = await create();
    const got = await unary(client, 'Get', { sessionId: created.session.sessionId, consistency: 'READ_CONSISTENCY_STALE', minIndex: 1 });
    expect(got.error).toBeNull();
    expect(got.response.session).toEqual(created.session);
    expect(got.response.index).toBe(backend.index);
    expect(backend.reads.at(-1)).toMatchObject({ consistency: 'stale', minIndex: 1 });

    const missing = await unary(client, 'Get', { sessionId: randomUUID() });
    expect(missing.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(backend.reads.at(-1)).toMatchObject({ consistency: 'linearizable', minIndex: 0 });
  });

  it('Update merges data, checks the version and changes the TTL', async () => {
    const created = await create({ dataJson: '{"a":1,"b":2}' });
    const id = created.session.sessionId;
    const updated = await unary(client, 'Update', { sessionId: id, dataJson: '{"b":null,"c":3}', expectedVersion: 1, ttlMs: 120_000 });
    expect(updated.error).toBeNull();
    expect(JSON.parse(updated.response.session.dataJson)).toEqual({ a: 1, c: 3 });
    expect(updated.response.session.version).toBe(2);
    expect(updated.response.session.ttlMs).toBe(120_000);

    const stale = await unary(client, 'Update', { sessionId: id, dataJson: '{"d":4}', expectedVersion: 1 });
    expect(stale.error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(stale.error?.details).toMatch(/version 2, not the expected 1/);
  });

  it('Touch bumps the version; Delete removes; deleting again is NOT_FOUND', async () => {
    const id = (await create()).session.sessionId;
    const touched = await unary(client, 'Touch', { sessionId: id });
    expect(touched.response.session.version).toBe(2);
    const deleted = await unary(client, 'Delete', { sessionId: id });
    expect(deleted.response).toMatchObject({ deleted: 1, durability: 'DURABILITY_SYNC' });
    expect(deleted.response.index).toBe(backend.index);
    const again = await unary(client, 'Delete', { sessionId: id });
    expect(again.error?.code).toBe(grpc.status.NOT_FOUND);
  });

  it('List pages through a client in session id order; Count and DeleteByClient', async () => {
    for (let i = 0; i < 5; i++) await create();
    await create({ clientId: 'client-b' });
    const seen: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await unary(client, 'List', { clientId: 'client-a', pageSize: 2, pageToken });
      expect(page.error).toBeNull();
      expect(page.response.sessions.length).toBeLessThanOrEqual(2);
      seen.push(...page.response.sessions.map((s: { sessionId: string }) => s.sessionId));
      pageToken = page.response.nextPageToken;
      pages++;
    } while (pageToken !== '' && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(5);

    expect((await unary(client, 'Count', { clientId: 'client-a' })).response.count).toBe(5);
    expect((await unary(client, 'Count', {})).response.count).toBe(6);
    const removed = await unary(client, 'DeleteByClient', { clientId: 'client-a' });
    expect(removed.response.deleted).toBe(5);
    expect((await unary(client, 'Count', {})).response.count).toBe(1);
  });

  it('a page token is bound to its client_id', async () => {
    for (let i = 0; i < 3; i++) await create();
    const page = await unary(client, 'List', { clientId: 'client-a', pageSize: 1 });
    const other = await unary(client, 'List', { clientId: 'client-b', pageToken: page.response.nextPageToken });
    expect(other.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(other.error?.details).toMatch(/^page_token: /);
  });

  it('a List page stops at the byte budget and still makes progress', async () => {
    const small = await startServer(new FakeBackend(), { listResponseBytesMax: 4096 });
    const smallClient = rawSessionClient(small.address);
    try {
      const big = JSON.stringify({ blob: 'x'.repeat(3000) });
      for (let i = 0; i < 4; i++) await unary(smallClient, 'Create', { clientId: 'c', transport: 'ws', dataJson: big });
      const page = await unary(smallClient, 'List', { clientId: 'c', pageSize: 100 });
      expect(page.response.sessions.length).toBe(1);
      expect(page.response.nextPageToken).not.toBe('');
    } finally {
      smallClient.close();
      await small.close();
    }
  });
});

describe('error mapping', () => {
  it('NotLeader is UNAVAILABLE with x-leader-id and x-leader-address trailers', async () => {
    backend.follower = { leaderId: 2, leaderAddress: '127.0.0.1:7002' };
    const { error } = await unary(client, 'Create', { clientId: 'c', transport: 'http' });
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(error?.metadata.get('x-leader-id')).toEqual(['2']);
    expect(error?.metadata.get('x-leader-address')).toEqual(['127.0.0.1:7002']);
    expect(error?.details).toMatch(/leader is node 2/);
  });

  it('NotLeader without a known leader carries x-leader-id 0 and no address', async () => {
    backend.follower = { leaderId: 0, leaderAddress: '' };
    const { error } = await unary(client, 'Touch', { sessionId: randomUUID() });
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(error?.metadata.get('x-leader-id')).toEqual(['0']);
    expect(error?.metadata.get('x-leader-address')).toEqual([]);
  });

  const cases: Array<[string, () => Error, grpc.status]> = [
    ['OverloadedError', () => new OverloadedError('pendingWritesMax', 10), grpc.status.RESOURCE_EXHAUSTED],
    ['TimeoutError', () => new TimeoutError('write', 100), grpc.status.DEADLINE_EXCEEDED],
    ['ProposalDroppedError', () => new ProposalDroppedError('leadership lost'), grpc.status.UNAVAILABLE],
    ['ShuttingDownError', () => new ShuttingDownError(), grpc.status.UNAVAILABLE],
    ['NodeError INVALID_ARGUMENT', () => new NodeError('INVALID_ARGUMENT', 'consistency LEASE is not supported'), grpc.status.INVALID_ARGUMENT],
  ];
  for (const [name, make, code] of cases) {
    it(`${name} → ${grpc.status[code]}`, async () => {
      const error = make();
      backend.failNext = error;
      const outcome = await unary(client, 'Create', { clientId: 'c', transport: 'http' });
      expect(outcome.error?.code).toBe(code);
      expect(outcome.error?.details).toBe(error.message);
      expect(outcome.error?.metadata.get('x-leader-id')).toEqual([]);
    });
  }

  it('anything else is INTERNAL with a log line and no internals in the message', async () => {
    backend.failNext = new Error('secret disk path /var/x exploded');
    const before = server.log.lines.length;
    const outcome = await unary(client, 'Count', {});
    expect(outcome.error?.code).toBe(grpc.status.INTERNAL);
    expect(outcome.error?.details).not.toMatch(/secret/);
    const logged = server.log.lines.slice(before);
    expect(logged.some((line) => line.level === 50 && JSON.stringify(line).includes('secret disk path'))).toBe(true);
  });

  it('passes the remaining deadline to the backend', async () => {
    await unary(client, 'Count', {}, { deadline: Date.now() + 5_000 });
    const deadlineMs = backend.reads.at(-1)!.deadlineMs!;
    expect(deadlineMs).toBeGreaterThan(3_000);
    expect(deadlineMs).toBeLessThanOrEqual(5_000);
    await unary(client, 'Count', {});
    expect(backend.reads.at(-1)!.deadlineMs).toBeUndefined();
  });

  it('a cancelled call aborts the backend signal', async () => {
    const release = backend.hold();
    try {
      const call = client.Count({}, () => undefined) as grpc.ClientUnaryCall;
      await expect.poll(() => backend.reads.length).toBe(1);
      const signal = backend.reads[0]!.signal!;
      expect(signal.aborted).toBe(false);
      call.cancel();
      await expect.poll(() => signal.aborted).toBe(true);
    } finally {
      release();
    }
  });

  it('a deadline that passes while the backend waits ends the call DEADLINE_EXCEEDED', async () => {
    const release = backend.hold();
    try {
      const outcome = await unary(client, 'Get', { sessionId: randomUUID() }, { deadline: Date.now() + 200 });
      expect(outcome.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      const signal = backend.reads[0]!.signal!;
      await expect.poll(() => signal.aborted).toBe(true);
    } finally {
      release();
    }
  });
});

describe('AdminService', () => {
  let admin: RawClient;
  beforeAll(() => {
    admin = rawAdminClient(server.address);
  });
  afterAll(() => admin.close());

  it('Status reports role, term, leader, indexes, members and digest', async () => {
    backend.members = [
      { id: 1 as never, address: '127.0.0.1:7001', voter: true, matchIndex: 0 as never },
      { id: 2 as never, address: '127.0.0.1:7002', voter: true, matchIndex: 0 as never },
    ];
    backend.follower = { leaderId: 2, leaderAddress: '127.0.0.1:7002' };
    const { error, response } = await unary(admin, 'Status', {});
    expect(error).toBeNull();
    expect(response).toMatchObject({
      nodeId: 1,
      clusterId: 'test-cluster',
      role: 'follower',
      term: 3,
      leaderId: 2,
      leaderAddress: '127.0.0.1:7002',
      stateDigest: 'ab'.repeat(16),
    });
    expect(response.members).toEqual([
      { id: 1, address: '127.0.0.1:7001', voter: true, matchIndex: 0 },
      { id: 2, address: '127.0.0.1:7002', voter: true, matchIndex: 0 },
    ]);
  });
});
