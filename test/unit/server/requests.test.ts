/**
 * The request counter (sessionraft_requests_total) on a real grpc.Server over the FakeBackend:
 * unary calls by method and code, a failed call with its code, calls refused by access control
 * before any handler, Batch items one by one, and a stream's own final status.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createAccessControl, createRequestCounter, methodLabel, type RequestCounter } from '../../../src/server/index.js';
import { FakeBackend } from './fake-backend.js';
import { rawAdminClient, rawSessionClient, startServer, unary, type RawClient } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const TOKEN = 'a-client-token-of-some-length';

function withToken(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${TOKEN}`);
  return metadata;
}

async function setup(): Promise<{ requests: RequestCounter; backend: FakeBackend; client: RawClient; admin: RawClient }> {
  const requests = createRequestCounter();
  const access = createAccessControl({ clientToken: TOKEN });
  const backend = new FakeBackend();
  const server = await startServer(backend, { requestCounter: requests }, undefined, { interceptors: [requests.interceptor, access.interceptor] });
  const client = rawSessionClient(server.address);
  const admin = rawAdminClient(server.address);
  cleanups.push(() => server.close(), () => client.close(), () => admin.close());
  return { requests, backend, client, admin };
}

function count(requests: RequestCounter, method: string, code: string): number {
  return requests.counts().find((c) => c.method === method && c.code === code)?.count ?? 0;
}

describe('request counter', () => {
  it('names methods without their package', () => {
    expect(methodLabel('/sessionraft.v1.SessionService/Get')).toBe('SessionService/Get');
    expect(methodLabel('/grpc.health.v1.Health/Check')).toBe('Health/Check');
  });

  it('counts unary calls by method and status code, failures and refusals included', async () => {
    const { requests, backend, client, admin } = await setup();
    // No token: refused by access control before the handler, still counted.
    expect((await unary(client, 'Create', { clientId: 'c', transport: 'ws', dataJson: '{}' })).error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await unary(client, 'Count', { clientId: 'c' })).error?.code).toBe(grpc.status.UNAUTHENTICATED);
    const call = (method: string, request: unknown) =>
      new Promise<grpc.ServiceError | null>((resolve) => client[method](request, withToken(), (error: grpc.ServiceError | null) => resolve(error)));
    expect(await call('Create', { clientId: 'c', transport: 'ws', dataJson: '{}' })).toBeNull();
    expect(await call('Count', { clientId: 'c' })).toBeNull();
    expect((await call('Get', { sessionId: randomUUID() }))?.code).toBe(grpc.status.NOT_FOUND);
    backend.follower = { leaderId: 2, leaderAddress: '127.0.0.1:2' };
    expect((await call('Create', { clientId: 'c', transport: 'ws', dataJson: '{}' }))?.code).toBe(grpc.status.UNAVAILABLE);
    await new Promise<void>((resolve) => admin.Status({}, withToken(), () => resolve()));
    expect(count(requests, 'SessionService/Create', 'UNAUTHENTICATED')).toBe(1);
    expect(count(requests, 'SessionService/Count', 'UNAUTHENTICATED')).toBe(1);
    expect(count(requests, 'SessionService/Create', 'OK')).toBe(1);
    expect(count(requests, 'SessionService/Count', 'OK')).toBe(1);
    expect(count(requests, 'SessionService/Get', 'NOT_FOUND')).toBe(1);
    expect(count(requests, 'SessionService/Create', 'UNAVAILABLE')).toBe(1);
    expect(count(requests, 'AdminService/Status', 'OK')).toBe(1);
    expect(requests.counts().reduce((sum, c) => sum + c.count, 0)).toBe(7);
  });

  it('counts each Batch item with its operation and code, the stream itself, and a Watch with no source', async () => {
    const { requests, client } = await setup();
    const stream = client.Batch(withToken()) as grpc.ClientDuplexStream<unknown, { results: unknown[] }>;
    let results = 0;
    stream.on('data', (response) => (results += response.results.length));
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('end', () => resolve());
      stream.on('error', reject);
    });
    stream.write({
      items: [
        { id: 1, create: { clientId: 'c', transport: 'ws', dataJson: '{}' } },
        { id: 2, get: { sessionId: randomUUID() } },
        { id: 3, deleteByClient: { clientId: 'c' } },
        { id: 4, get: { sessionId: 'not a uuid' } },
      ],
    });
    await expect.poll(() => results).toBe(4);
    stream.end();
    await ended;
    expect(count(requests, 'SessionService/Batch/Create', 'OK')).toBe(1);
    expect(count(requests, 'SessionService/Batch/Get', 'NOT_FOUND')).toBe(1);
    expect(count(requests, 'SessionService/Batch/Get', 'INVALID_ARGUMENT')).toBe(1);
    expect(count(requests, 'SessionService/Batch/DeleteByClient', 'OK')).toBe(1);
    await expect.poll(() => count(requests, 'SessionService/Batch', 'OK')).toBe(1);

    const watch = client.Watch({}, withToken()) as grpc.ClientReadableStream<unknown>;
    await new Promise<void>((resolve) => watch.on('error', () => resolve()).on('data', () => undefined));
    await expect.poll(() => count(requests, 'SessionService/Watch', 'UNIMPLEMENTED')).toBe(1);
  });
});
