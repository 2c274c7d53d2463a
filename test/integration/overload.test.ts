/**
 * Overload: one node process started with --requests-max 8 --streams-max 4 is driven past its
 * bounds (streams, unary calls in flight, batches past batchInflightItemsMax, a message past
 * the receive limit, clients that send and never read). Each excess is answered
 * RESOURCE_EXHAUSTED at once, the node's memory (its own /metrics) stays bounded, and it serves
 * normally once the load is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionClient, type ConnectOptions } from '../../src/client/index.js';
import { READ_CONSISTENCY_STALE, openRawBatch, type RawBatchStream } from '../support/raw-batch.js';
import { cliPath, freePorts } from './harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-overload-'));
const REQUESTS_MAX = 8;
const STREAMS_MAX = 4;
/** A read that waits for an index the node will not reach: it holds its slot until its deadline. */
const FAR_INDEX = 1_000_000_000;
let endpoint = '';
/** The node's --http-listen address, for process_resident_memory_bytes. */
let httpEndpoint = '';
let child: ChildProcess | undefined;
let log = '';
const clients: SessionClient[] = [];
/** Raw HTTP/2 Batch streams that send and do not read (see openSlowReader). */
const slowReaders: RawBatchStream[] = [];

async function client(options: Partial<ConnectOptions> = {}): Promise<SessionClient> {
  const c = await SessionClient.connect({ endpoints: [endpoint], retriesMax: 0, deadlineMsDefault: 5_000, ...options });
  clients.push(c);
  return c;
}

const elapsedMs = async (p: Promise<unknown>): Promise<{ ms: number; error: unknown }> => {
  const start = Date.now();
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { ms: Date.now() - start, error };
};

beforeAll(async () => {
  const [port, httpPort] = await freePorts(2);
  endpoint = `127.0.0.1:${port}`;
  httpEndpoint = `127.0.0.1:${httpPort}`;
  child = spawn(
    process.execPath,
    [cliPath, 'node', '--id', '1', '--peers', `1=${endpoint}`, '--data-dir', path.join(dir, 'n1'), '--cluster-id', 'overload',
      '--log-format', 'json', '--tick-ms', '50', '--requests-max', String(REQUESTS_MAX), '--streams-max', String(STREAMS_MAX),
      '--http-listen', httpEndpoint],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (b: Buffer) => void (log += b.toString()));
  child.stderr!.on('data', (b: Buffer) => void (log += b.toString()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const c = await SessionClient.connect({ endpoints: [endpoint], retriesMax: 0, connectTimeoutMs: 1_000 });
      const status = await c.status(endpoint).finally(() => c.close());
      if (status.role === 'leader') break;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`no leader in 20 s: ${(error as Error).message}\n${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}, 30_000);

afterAll(() => {
  for (const c of clients) c.close();
  for (const r of slowReaders) r.destroy();
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('bounded requests and streams per node', () => {
  it(`answers the stream past --streams-max ${STREAMS_MAX} RESOURCE_EXHAUSTED at once, and takes streams again once some close`, async () => {
    const holders = await Promise.all(Array.from({ length: STREAMS_MAX }, () => client()));
    // each client keeps its Batch stream open after its first call
    await Promise.all(holders.map((c, i) => c.create({ clientId: `stream-${i}`, transport: 'http' })));
    const extra = await client();
    const refused = await elapsedMs(extra.create({ clientId: 'one-too-many', transport: 'http' }));
    expect(refused.error).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, message: expect.stringContaining(`streamsMax (${STREAMS_MAX})`) });
    expect(refused.ms).toBeLessThan(1_000);
    // nothing of the refused call was written
    expect((await holders[0]!.count('one-too-many')).count).toBe(0);

    holders[0]!.close();
    holders[1]!.close();
    await new Promise((r) => setTimeout(r, 200)); // the node sees the cancellations
    const again = await client();
    await expect(again.create({ clientId: 'after-streams', transport: 'http' })).resolves.toMatchObject({ session: { clientId: 'after-streams' } });
    for (const c of [holders[2]!, holders[3]!, extra, again]) c.close();
  });

  it(`answers the unary call past --requests-max ${REQUESTS_MAX} RESOURCE_EXHAUSTED at once, and recovers when they end`, async () => {
    const unary = await client({ mode: 'unary' });
    const held = Array.from({ length: REQUESTS_MAX }, () =>
      unary.get('00000000-0000-4000-8000-000000000000', { consistency: 'stale', minIndex: FAR_INDEX, deadlineMs: 2_500 }),
    );
    await new Promise((r) => setTimeout(r, 300)); // all of them reached the node
    const refused = await elapsedMs(unary.create({ clientId: 'unary-too-many', transport: 'http' }));
    expect(refused.error).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, message: expect.stringContaining(`requestsMax (${REQUESTS_MAX})`) });
    expect(refused.ms).toBeLessThan(1_000);
    const outcomes = await Promise.allSettled(held);
    expect(outcomes.every((o) => o.status === 'rejected' && (o.reason as { code: number }).code === grpc.status.DEADLINE_EXCEEDED)).toBe(true);
    await expect(unary.create({ clientId: 'unary-after', transport: 'http' })).resolves.toMatchObject({ session: { clientId: 'unary-after' } });
    expect((await unary.count('unary-too-many')).count).toBe(0);
    unary.close();
  });

  it('answers batch items past batchInflightItemsMax (4096) RESOURCE_EXHAUSTED at once, keeping the stream', async () => {
    const c = await client({ pendingCallsMax: 10_000 });
    const items = Array.from({ length: 5_000 }, () =>
      c.get('00000000-0000-4000-8000-000000000000', { consistency: 'stale', minIndex: FAR_INDEX, deadlineMs: 3_000 }).then(
        () => 'ok',
        (e: { code: number }) => grpc.status[e.code],
      ),
    );
    const start = Date.now();
    const firstRefusal = await Promise.race(items.map((p) => p.then((code) => (code === 'RESOURCE_EXHAUSTED' ? code : new Promise(() => undefined)))));
    expect(firstRefusal).toBe('RESOURCE_EXHAUSTED');
    expect(Date.now() - start).toBeLessThan(2_000);
    const codes = await Promise.all(items);
    const count = (code: string): number => codes.filter((x) => x === code).length;
    expect(count('RESOURCE_EXHAUSTED')).toBeGreaterThanOrEqual(5_000 - 4_096);
    expect(count('RESOURCE_EXHAUSTED') + count('DEADLINE_EXCEEDED')).toBe(5_000);
    // the same stream serves again
    await expect(c.create({ clientId: 'batch-after', transport: 'http' })).resolves.toMatchObject({ session: { clientId: 'batch-after' } });
    c.close();
  });

  it('refuses a batch message past the receive limit (16 MiB, the peer frame limit) RESOURCE_EXHAUSTED, writes none of it, and recovers', async () => {
    const c = await client({ batchRequestBytesMax: 64 * 1024 * 1024, messageBytesMax: 64 * 1024 * 1024 });
    const data = { blob: 'x'.repeat(60_000) };
    const results = await Promise.allSettled(Array.from({ length: 300 }, () => c.create({ clientId: 'huge-batch', transport: 'http', data })));
    const codes = new Set(results.map((r) => (r.status === 'rejected' ? grpc.status[(r.reason as { code: number }).code] : 'ok')));
    expect([...codes]).toEqual(['RESOURCE_EXHAUSTED']);
    const fresh = await client();
    expect((await fresh.count('huge-batch')).count).toBe(0);
    await expect(fresh.create({ clientId: 'huge-after', transport: 'http', data })).resolves.toMatchObject({ session: { clientId: 'huge-after' } });
    c.close();
    fresh.close();
  });
});

const MiB = 1024 * 1024;
/** Session data of about 60 KB: each Get of it is a 60 KB result. */
const BIG_BLOB = 'x'.repeat(60_000);
/** Per slow stream: 16 requests of 512 Gets, 8192 items (the node takes 4096 before it stops reading). */
const SLOW_MESSAGES = 16;
const SLOW_ITEMS_PER_MESSAGE = 512;
/**
 * Growth of the node's RSS allowed while slow readers hold their streams. What a stream keeps for
 * a client that does not read is bounded (batchUnsentBytesMax, 16 MiB, plus the response being
 * written; reads past it are answered RESOURCE_EXHAUSTED instead); the rest is garbage not yet
 * collected. Without that bound each of these streams held up to 4096 results of 60 KB, 240 MiB.
 */
const RSS_GROWTH_BYTES_MAX = 200 * MiB;

/** Many Gets of a 60 KB session, sent at once on a raw HTTP/2 stream that reads nothing. */
function openSlowReader(sessionId: string): RawBatchStream {
  let id = 0;
  const messages = Array.from({ length: SLOW_MESSAGES }, () =>
    Array.from({ length: SLOW_ITEMS_PER_MESSAGE }, () => ({ id: ++id, get: { sessionId, consistency: READ_CONSISTENCY_STALE } })),
  );
  const reader = openRawBatch(endpoint, messages);
  slowReaders.push(reader);
  return reader;
}

async function residentBytes(): Promise<number> {
  const text = await (await fetch(`http://${httpEndpoint}/metrics`)).text();
  const match = /^process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  if (!match) throw new Error('no process_resident_memory_bytes in /metrics');
  return Number(match[1]);
}

/** The largest RSS seen in `ms`, sampled every 200 ms. */
async function peakResidentBytes(ms: number): Promise<number> {
  let peak = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) {
    peak = Math.max(peak, await residentBytes());
    await new Promise((r) => setTimeout(r, 200));
  }
  return peak;
}

describe('clients that send and never read', () => {
  it(`keep the node's memory bounded and leave a node that serves everyone, twice over`, async () => {
    const writer = await client();
    const { session } = await writer.create({ clientId: 'slow-readers', transport: 'http', data: { blob: BIG_BLOB } });
    writer.close();
    const baseline = await residentBytes();
    // Twice: the memory the first wave held must be free again for the second.
    for (let wave = 0; wave < 2; wave++) {
      const readers = Array.from({ length: STREAMS_MAX - 1 }, () => openSlowReader(session.sessionId));
      const peak = await peakResidentBytes(4_000);
      expect(peak - baseline, `wave ${wave}: RSS ${(baseline / MiB).toFixed(0)} → ${(peak / MiB).toFixed(0)} MiB`).toBeLessThan(RSS_GROWTH_BYTES_MAX);

      // The stream slot left and the unary calls serve other clients meanwhile.
      const normal = await client();
      await expect(normal.get(session.sessionId, { consistency: 'stale' })).resolves.toMatchObject({ session: { data: { blob: BIG_BLOB } } });
      await expect(normal.create({ clientId: `during-wave-${wave}`, transport: 'http' })).resolves.toBeDefined();
      normal.close();
      const unary = await client({ mode: 'unary' });
      await expect(unary.count('slow-readers')).resolves.toMatchObject({ count: 1 });
      unary.close();

      for (const r of readers) r.destroy();
      await new Promise((r) => setTimeout(r, 300)); // the node sees the cancellations
      // Every stream slot is free again.
      const after = await Promise.all(Array.from({ length: STREAMS_MAX }, () => client()));
      await Promise.all(after.map((c, i) => expect(c.create({ clientId: `after-wave-${wave}-${i}`, transport: 'http' })).resolves.toBeDefined()));
      for (const c of after) c.close();
    }
  });

  it('answer the Gets past the bound RESOURCE_EXHAUSTED, each saying which bound, once they read', async () => {
    const writer = await client();
    const { session } = await writer.create({ clientId: 'slow-reader-drained', transport: 'http', data: { blob: BIG_BLOB } });
    writer.close();
    const reader = openSlowReader(session.sessionId);
    await new Promise((r) => setTimeout(r, 1_000)); // the node takes what it will and waits
    // Every Get answered: the first ones with the session; those past the bound on waiting results
    // (or past the 4096 items in flight) RESOURCE_EXHAUSTED.
    const drained = await reader.drain();
    expect(drained.status).toBe(String(grpc.status.OK));
    expect(drained.results).toHaveLength(SLOW_MESSAGES * SLOW_ITEMS_PER_MESSAGE);
    const refused = drained.results.filter((r) => r.error !== undefined);
    for (const r of refused) {
      expect(r.error!.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(r.error!.message).toMatch(/batchUnsentBytesMax|batchInflightItemsMax/);
    }
    expect(refused.some((r) => r.error!.message.includes('batchUnsentBytesMax'))).toBe(true);
    expect(drained.results.length - refused.length).toBeGreaterThan(0);
    reader.destroy();
  });
});
