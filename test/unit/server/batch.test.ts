/** SessionService.Batch through a raw gRPC bidirectional stream. */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { rawSessionClient, startServer, type RawClient, type TestServer } from './harness.js';
import { FakeBackend } from './fake-backend.js';
import { READ_CONSISTENCY_STALE, openRawBatch, type RawBatchItem } from '../../support/raw-batch.js';

interface Result {
  id: number;
  response: string;
  error?: { code: number; message: string; leaderId: number; leaderAddress: string; notLeader: boolean };
  [key: string]: unknown;
}
type Stream = grpc.ClientDuplexStream<{ items: unknown[] }, { results: Result[] }>;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(options = {}, backend = new FakeBackend()): Promise<{ server: TestServer; client: RawClient }> {
  const server = await startServer(backend, options);
  const client = rawSessionClient(server.address);
  cleanups.push(() => server.close(), () => client.close());
  return { server, client };
}

/** Opens a Batch stream that collects every BatchResponse. */
function open(client: RawClient): { stream: Stream; responses: Result[][]; results: () => Map<number, Result>; ended: Promise<void> } {
  const stream = client.Batch() as Stream;
  const responses: Result[][] = [];
  stream.on('data', (response: { results: Result[] }) => responses.push(response.results));
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  ended.catch(() => undefined); // cancelled by the cleanup
  cleanups.push(() => stream.cancel());
  const results = (): Map<number, Result> => new Map(responses.flat().map((r) => [r.id, r]));
  return { stream, responses, results, ended };
}

const create = (id: number, extra: Record<string, unknown> = {}): unknown => ({
  id,
  create: { clientId: 'client-a', transport: 'ws', dataJson: `{"n":${id}}`, ...extra },
});

describe('Batch stream', () => {
  it('runs every kind of operation and matches answers by id', async () => {
    const { server, client } = await setup();
    const { stream, results, ended } = open(client);
    stream.write({ items: [create(1), create(2)] });
    await expect.poll(() => results().size).toBe(2);
    const id1 = (results().get(1)!.create as { session: { sessionId: string } }).session.sessionId;
    stream.write({
      items: [
        { id: 3, get: { sessionId: id1 } },
        { id: 4, update: { sessionId: id1, dataJson: '{"m":1}', expectedVersion: 1 } },
        { id: 5, count: { clientId: 'client-a' } },
        { id: 6, list: { clientId: 'client-a' } },
        { id: 7, get: { sessionId: randomUUID() } },
        { id: 8, get: { sessionId: 'not ok' } },
      ],
    });
    await expect.poll(() => results().size).toBe(8);
    stream.write({ items: [{ id: 9, touch: { sessionId: id1 } }, { id: 10, delete: { sessionId: id1 } }, { id: 11, deleteByClient: { clientId: 'client-a' } }] });
    stream.end();
    await ended;
    const all = results();
    expect(all.size).toBe(11);
    expect(all.get(1)!.response).toBe('create');
    expect(all.get(3)!.response).toBe('get');
    expect(all.get(5)).toMatchObject({ response: 'count', count: { count: 2 } });
    expect((all.get(6)!.list as { sessions: unknown[] }).sessions).toHaveLength(2);
    expect(all.get(7)!.error).toMatchObject({ code: grpc.status.NOT_FOUND, notLeader: false });
    expect(all.get(8)!.error!.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(all.get(8)!.error!.message).toMatch(/^session_id: /);
    expect(all.get(10)).toMatchObject({ response: 'delete', delete: { deleted: 1 } });
    expect(all.get(11)!.response).toBe('deleteByClient');
    expect((all.get(11)!.deleteByClient as { deleted: number }).deleted).toBe(1);
    expect(server.backend.writes.map((w) => w.command.type)).toEqual(['create', 'create', 'update', 'touch', 'delete', 'deleteByClient']);
  });

  it('processes items concurrently: all reach the backend before any completes', async () => {
    const backend = new FakeBackend();
    const { client } = await setup({}, backend);
    const { stream, responses, results } = open(client);
    const release = backend.hold();
    stream.write({ items: [create(1)] });
    stream.write({ items: [create(2), { id: 3, count: {} }] });
    await expect.poll(() => backend.writes.length + backend.reads.length).toBe(3);
    expect(results().size).toBe(0);
    release();
    await expect.poll(() => results().size).toBe(3);
    expect(responses).toHaveLength(1); // finished in the same turn: one BatchResponse
  });

  it('answers in completion order, not arrival order', async () => {
    const backend = new FakeBackend();
    const { client } = await setup({}, backend);
    const { stream, responses } = open(client);
    const release = backend.hold();
    stream.write({ items: [create(1)] }); // held
    await expect.poll(() => backend.writes.length).toBe(1);
    backend.gate = undefined; // later calls pass; the first stays held
    stream.write({ items: [{ id: 2, count: {} }] });
    await expect.poll(() => responses.flat().length).toBe(1);
    expect(responses.flat()[0]!.id).toBe(2);
    release();
    await expect.poll(() => responses.flat().length).toBe(2);
    expect(responses.flat()[1]!.id).toBe(1);
  });

  it('lets every item in flight listen for the stream being cancelled, without a listener-leak warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    cleanups.push(() => void process.off('warning', onWarning));
    const backend = new FakeBackend();
    const { client } = await setup({}, backend);
    const { stream, results } = open(client);
    const release = backend.hold(); // each held write listens on the stream's signal, as the node does
    stream.write({ items: Array.from({ length: 50 }, (_, i) => create(i + 1)) });
    await expect.poll(() => backend.writes.length).toBe(50);
    release();
    await expect.poll(() => results().size).toBe(50);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('coalesces results finished in one turn into one BatchResponse', async () => {
    const { client } = await setup();
    const { stream, responses, results } = open(client);
    stream.write({ items: Array.from({ length: 200 }, (_, i) => ({ id: i + 1, count: {} })) });
    await expect.poll(() => results().size).toBe(200);
    expect(responses.length).toBeLessThanOrEqual(2);
  });

  it('cuts a BatchResponse at batchResponseBytesMax', async () => {
    const { client } = await setup({ batchResponseBytesMax: 2048 });
    const { stream, responses, results } = open(client);
    const dataJson = JSON.stringify({ blob: 'z'.repeat(1000) });
    stream.write({ items: Array.from({ length: 6 }, (_, i) => create(i + 1, { dataJson })) });
    await expect.poll(() => results().size).toBe(6);
    expect(responses.length).toBeGreaterThanOrEqual(3);
  });

  /** Small bounds: 4 KiB sessions, responses cut at 8 KiB, 32 KiB of results waiting per stream. */
  const SMALL_BUFFERS = { dataBytesMax: 4096, listResponseBytesMax: 8192, batchResponseBytesMax: 8192, batchUnsentBytesMax: 32_768 };
  const BLOB_JSON = JSON.stringify({ blob: 'b'.repeat(4000) });
  const bigCreate = (id: number): RawBatchItem => ({ id, create: { clientId: 'client-a', transport: 'ws', dataJson: BLOB_JSON } });
  /** 50 BatchRequests of 2 items each, all sent at once: about 400 KB of results, 12 times the bound. */
  const pairs = (item: (id: number) => RawBatchItem): RawBatchItem[][] =>
    Array.from({ length: 50 }, (_, m) => [item(2 * m + 1), item(2 * m + 2)]);
  const STREAM_ENDED = 'batch stream ended: its client does not read its results';

  it('answers reads RESOURCE_EXHAUSTED past batchUnsentBytesMax for a client that reads nothing, and keeps the stream', async () => {
    const { server, client } = await setup(SMALL_BUFFERS);
    const { stream, results } = open(client);
    stream.write({ items: [bigCreate(1)] });
    await expect.poll(() => results().size).toBe(1);
    const sessionId = (results().get(1)!.create as { session: { sessionId: string } }).session.sessionId;

    const reader = openRawBatch(server.address, pairs((id) => ({ id, get: { sessionId, consistency: READ_CONSISTENCY_STALE } })));
    cleanups.push(() => reader.destroy());
    await expect.poll(() => server.backend.reads.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(100);
    const drained = await reader.drain();
    expect(drained.status).toBe(String(grpc.status.OK)); // the stream was never ended for reads
    expect(drained.results).toHaveLength(100);
    const refused = drained.results.filter((r) => r.error !== undefined);
    // Some reads got through (the client's window and the bound), the rest were refused, each saying why.
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(100);
    for (const r of refused) {
      expect(r.error!.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(r.error!.message).toMatch(/bytes of results wait for this client to read them, batchUnsentBytesMax \(32768\)/);
    }
    expect(server.log.lines.some((l) => l.msg === STREAM_ENDED)).toBe(false);
  });

  it('ends the stream RESOURCE_EXHAUSTED once write results past twice batchUnsentBytesMax wait for a client that reads nothing', async () => {
    const { server } = await setup(SMALL_BUFFERS);
    const writer = openRawBatch(server.address, pairs(bigCreate));
    cleanups.push(() => writer.destroy());
    await expect.poll(() => server.log.lines.find((l) => l.msg === STREAM_ENDED), { timeout: 5_000 }).toBeDefined();
    const line = server.log.lines.find((l) => l.msg === STREAM_ENDED)!;
    expect(line.unsentBytes as number).toBeGreaterThan(2 * SMALL_BUFFERS.batchUnsentBytesMax);
    expect(line.unsentBytes as number).toBeLessThan(2 * SMALL_BUFFERS.batchUnsentBytesMax + 8192);
    const drained = await writer.drain();
    expect(drained.status).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
    expect(drained.message).toMatch(/more than twice batchUnsentBytesMax \(32768\): read the stream as results come/);
    expect(drained.results.length).toBeLessThan(100);
  });

  it('only slows down a client that reads slowly but keeps reading: it stops reading requests, every result arrives', async () => {
    // 64 KiB: when reading resumes, grpc-js hands over up to 16 requests it buffered at once, and
    // their results (16 of about 4 KiB) must fit under twice the bound.
    const { client } = await setup({ ...SMALL_BUFFERS, batchUnsentBytesMax: 65_536 });
    const stream = client.Batch() as Stream;
    cleanups.push(() => stream.cancel());
    const received: Result[] = [];
    stream.on('data', (response: { results: Result[] }) => {
      received.push(...response.results);
      stream.pause(); // a slow consumer: 10 ms per response, slower than the requests come
      setTimeout(() => stream.resume(), 10);
    });
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    // One write of about 4 KiB every 5 ms, 200 of them: 800 KB of results, 12 times the bound. The
    // server stops taking requests while results wait; none is refused.
    for (let id = 1; id <= 200; id++) {
      stream.write({ items: [bigCreate(id)] });
      await new Promise((r) => setTimeout(r, 5));
    }
    stream.end();
    await ended;
    expect(received).toHaveLength(200);
    expect(received.filter((r) => r.error !== undefined && r.error !== null)).toEqual([]);
  });

  it('bounds the items in flight: beyond the limit an item fails RESOURCE_EXHAUSTED', async () => {
    const backend = new FakeBackend();
    const { client } = await setup({ batchInflightItemsMax: 4 }, backend);
    const { stream, results } = open(client);
    const release = backend.hold();
    stream.write({ items: Array.from({ length: 6 }, (_, i) => create(i + 1)) });
    await expect.poll(() => results().size).toBe(2);
    expect([...results().keys()].sort()).toEqual([5, 6]);
    for (const result of results().values()) {
      expect(result.error!.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(result.error!.message).toMatch(/batchInflightItemsMax \(4\)/);
    }
    expect(backend.writes).toHaveLength(4);
    release();
    await expect.poll(() => results().size).toBe(6);
    // Reading resumed: a later item is served.
    stream.write({ items: [{ id: 7, count: {} }] });
    await expect.poll(() => results().get(7)?.response).toBe('count');
  });

  it('rejects an item without an operation and a duplicate in-flight id, and keeps going', async () => {
    const backend = new FakeBackend();
    const { client } = await setup({}, backend);
    const { stream, responses } = open(client);
    const release = backend.hold();
    stream.write({ items: [{ id: 1 }, create(2), create(2)] });
    await expect.poll(() => responses.flat().length).toBe(2);
    const early = responses.flat();
    expect(early.find((r) => r.id === 1)!.error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(early.find((r) => r.id === 1)!.error!.message).toMatch(/^request: /);
    expect(early.find((r) => r.id === 2)!.error!.message).toMatch(/^id: 2 is already in flight/);
    expect(backend.writes).toHaveLength(1);
    release();
    await expect.poll(() => responses.flat().length).toBe(3);
    expect(responses.flat()[2]).toMatchObject({ id: 2, response: 'create' });
  });

  it('a follower answers each write with the leader hint', async () => {
    const backend = new FakeBackend();
    backend.follower = { leaderId: 3, leaderAddress: '127.0.0.1:7003' };
    const { client } = await setup({}, backend);
    const { stream, results } = open(client);
    stream.write({ items: [create(1), { id: 2, count: { consistency: 'READ_CONSISTENCY_STALE' } }] });
    await expect.poll(() => results().size).toBe(2);
    expect(results().get(1)!.error).toEqual({
      code: grpc.status.UNAVAILABLE,
      message: expect.stringMatching(/leader is node 3/),
      leaderId: 3,
      leaderAddress: '127.0.0.1:7003',
      notLeader: true,
    });
    expect(results().get(2)!.response).toBe('count');
  });

  it('an item timeout reaches the backend as its deadline', async () => {
    const backend = new FakeBackend();
    const { client } = await setup({}, backend);
    const { stream, results } = open(client);
    stream.write({ items: [{ id: 1, timeoutMs: 750, count: {} }, { id: 2, count: {} }] });
    await expect.poll(() => results().size).toBe(2);
    expect(backend.reads[0]!.deadlineMs).toBe(750);
    expect(backend.reads[1]!.deadlineMs).toBeUndefined();
  });

  it('cancelling the stream aborts what is in flight', async () => {
    const backend = new FakeBackend();
    const { client } = await setup({}, backend);
    const { stream } = open(client);
    stream.on('error', () => undefined);
    const release = backend.hold();
    cleanups.push(release);
    stream.write({ items: [create(1)] });
    await expect.poll(() => backend.writes.length).toBe(1);
    const signal = backend.writes[0]!.options.signal!;
    stream.cancel();
    await expect.poll(() => signal.aborted).toBe(true);
  });
});

describe('a Batch stream that carries bytes that are not a BatchRequest', () => {
  it('ends with INVALID_ARGUMENT naming the problem, and nothing is written', async () => {
    const { server } = await setup();
    const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
    cleanups.push(() => raw.close());
    const stream = raw.makeBidiStreamRequest(
      '/sessionraft.v1.SessionService/Batch',
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    const status = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.on('error', () => undefined);
    stream.on('data', () => undefined);
    stream.write(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    const { code, details } = await status;
    expect(code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(details).toMatch(/^request: not a valid BatchRequest message/);
    expect(server.backend.writes).toHaveLength(0);
  });
});
