/**
 * Watch against three real node processes: a watcher whose node is killed (SIGKILL) resumes on
 * another and gets every change the writes made exactly once, in order; a watch from an index
 * the nodes no longer hold is OUT_OF_RANGE with the oldest index; a client that never reads is
 * cut off RESOURCE_EXHAUSTED while the node's memory stays bounded and other clients go on; bad
 * input is INVALID_ARGUMENT.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  OutOfRangeError,
  SessionClient,
  type SessionEvent,
  type SessionEventType,
} from '../../src/client/index.js';
import { findProtoDir, loadProtos } from '../../src/proto/index.js';
import { TestCluster, runCli, sleep } from './harness.js';

const RING_EVENTS_MAX = 1_000;
const QUEUE_EVENTS_MAX = 100;

let cluster: TestCluster;
let client: SessionClient;
const closers: Array<() => void> = [];

beforeAll(async () => {
  cluster = await TestCluster.start({
    nodes: 3,
    nodeArgs: ['--watch-ring-events-max', String(RING_EVENTS_MAX), '--watch-queue-events-max', String(QUEUE_EVENTS_MAX)],
  });
  await cluster.waitForLeader();
  client = await SessionClient.connect({ endpoints: [...cluster.endpoints], retriesMax: 10 });
}, 60_000);

afterEach(() => {
  while (closers.length > 0) closers.pop()!();
  expect(cluster.unexpectedExits, cluster.describeUnexpectedExits()).toEqual([]);
});

afterAll(async () => {
  client?.close();
  await cluster?.close();
});

/** Reads `watch` into `events` in the background until it ends; resolves with how it ended. */
function collect(watch: AsyncIterable<SessionEvent>, events: SessionEvent[]): Promise<unknown> {
  return (async () => {
    try {
      for await (const event of watch) events.push(event);
      return undefined;
    } catch (error) {
      return error;
    }
  })();
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function rawWatchClient(address: string): grpc.Client & { Watch(request: object): grpc.ClientReadableStream<{ events: unknown[]; progressIndex: number }> } {
  const v1 = (grpc.loadPackageDefinition(loadProtos(['session.proto'], findProtoDir())).sessionraft as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const Constructor = v1.SessionService as grpc.ServiceClientConstructor;
  const raw = new Constructor(address, grpc.credentials.createInsecure()) as never;
  closers.push(() => (raw as grpc.Client).close());
  return raw;
}

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) * 1024;
}

describe('Watch on a real cluster', () => {
  it('answers INVALID_ARGUMENT to a bad client_id or from_position', async () => {
    const bad = client.watch({ clientId: 'has a\nnewline' });
    await expect(bad.next()).rejects.toBeInstanceOf(InvalidArgumentError);
    const raw = rawWatchClient(cluster.endpoints[0]!);
    const call = raw.Watch({ fromIndex: 0, fromPosition: 5 });
    const error = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/^from_position: 5 needs a from_index/);
  });

  it('cuts off a client that never reads with RESOURCE_EXHAUSTED; the node stays bounded and other clients are unaffected', async () => {
    const address = cluster.endpoints[0]!;
    const pid = cluster.pid(1)!;
    const raw = rawWatchClient(address);
    const stuck = raw.Watch({ clientId: 'heavy' });
    const firstResponse = new Promise((resolve) => stuck.once('data', resolve));
    let stuckEvents = 0;
    stuck.on('data', (response: { events: unknown[] }) => void (stuckEvents += response.events.length));
    const status = new Promise<grpc.ServiceError | undefined>((resolve) => {
      stuck.on('error', resolve);
      stuck.on('end', () => resolve(undefined));
    });
    await firstResponse;
    stuck.pause(); // never reads again (until the end of the test)
    const readerEvents: SessionEvent[] = [];
    const reader = client.watch({ clientId: 'heavy' });
    closers.push(() => reader.close());
    void collect(reader, readerEvents);
    const rssBefore = rssBytes(pid);
    const data = { blob: 'x'.repeat(16_000) };
    const { session } = await client.create({ clientId: 'heavy', transport: 'http', data });
    const writes = 1_200; // ~19 MB of events for the stuck watcher, far past its queue and what the client buffers (~290 here)
    for (let i = 0; i < writes; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, k) => client.update(session.sessionId, { data: { n: i + k } })));
    }
    const other = await client.create({ clientId: 'bystander', transport: 'http' });
    expect(other.session.version).toBe(1);
    await until(() => readerEvents.length >= writes + 1, 'the reading watcher to get every change');
    expect(new Set(readerEvents.map((e) => e.session.version)).size).toBe(writes + 1);
    const rssGrowth = rssBytes(pid) - rssBefore;
    expect(rssGrowth, `the node's RSS grew by ${rssGrowth} bytes`).toBeLessThan(100 * 1024 * 1024);
    stuck.resume();
    const error = await status;
    expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(error?.details).toMatch(/does not keep up/);
    // what reaches it after the cut is only what was in flight (grpc's buffers and two responses):
    // the node did not keep the other changes for it
    expect(stuckEvents).toBeLessThan(writes / 2);
  });

  it(`answers OUT_OF_RANGE with the oldest index for an index older than every node's ring (${RING_EVENTS_MAX} changes)`, async () => {
    const first = await client.create({ clientId: 'old', transport: 'http' });
    for (let i = 0; i < RING_EVENTS_MAX + 200; i += 200) {
      await Promise.all(Array.from({ length: 200 }, () => client.create({ clientId: 'filler', transport: 'http' })));
    }
    const last = await client.create({ clientId: 'old', transport: 'http' });
    await cluster.waitForApplied(last.index);
    const watch = client.watch({ fromIndex: first.index });
    const error = await watch.next().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutOfRangeError);
    const oldestIndex = (error as OutOfRangeError).oldestIndex!;
    expect(oldestIndex).toBeGreaterThan(first.index);
    expect(oldestIndex).toBeLessThanOrEqual(last.index);
    expect((error as Error).message).toMatch(new RegExp(`older than the oldest index this node can serve, ${oldestIndex}`));
    // from the oldest index it serves, the watch works
    const events: SessionEvent[] = [];
    const again = client.watch({ fromIndex: oldestIndex, clientId: 'old' });
    closers.push(() => again.close());
    void collect(again, events);
    await until(() => events.some((e) => e.session.sessionId === last.session.sessionId), 'the last create');
  });

  it('sessionraft session watch prints the changes from an index (--json: one object per line) and exits with the status of a failure', async () => {
    const endpoints = cluster.endpoints.join(',');
    const created = await client.create({ clientId: 'cli-w', transport: 'http', data: { a: 1 } });
    await client.update(created.session.sessionId, { data: { a: 2 } });
    await client.delete(created.session.sessionId);
    const json = runCli(['session', 'watch', '--client-id', 'cli-w', '--from', String(created.index), '--limit', '3', '--json', '--endpoints', endpoints]);
    expect(json.stderr).toBe('');
    expect(json.status).toBe(0);
    const lines = json.stdout.trim().split('\n').map((line) => JSON.parse(line) as SessionEvent);
    expect(lines.map((e) => [e.type, e.session.sessionId, e.session.data])).toEqual([
      ['created', created.session.sessionId, { a: 1 }],
      ['updated', created.session.sessionId, { a: 2 }],
      ['deleted', created.session.sessionId, { a: 2 }],
    ]);
    const text = runCli(['session', 'watch', '--client-id', 'cli-w', '--from', String(lines[1]!.index), '--from-position', '1', '--limit', '1', '--endpoints', endpoints]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^${lines[2]!.index}\\.0 +deleted +${created.session.sessionId} +cli-w +v2 +\\{"a":2\\}\n$`));
    const old = runCli(['session', 'watch', '--from', '1', '--endpoints', endpoints]);
    expect(old.status).toBe(10 + grpc.status.OUT_OF_RANGE);
    expect(old.stderr).toMatch(/OUT_OF_RANGE: .*older than the oldest index this node can serve/);
    const usage = runCli(['session', 'watch', '--from-position', '2', '--endpoints', endpoints]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/--from-position needs --from/);
  });

  it('resumes on another node after SIGKILL of the node it watches, with no gap and no duplicate', async () => {
    // The watcher talks to the two followers only, so stopping its node never stalls the writes.
    const leader = await cluster.waitForLeader();
    const followers = cluster.ids.filter((id) => id !== leader).map((id) => cluster.address(id));
    const watcherClient = await SessionClient.connect({ endpoints: followers });
    closers.push(() => watcherClient.close());
    const events: SessionEvent[] = [];
    const watch = watcherClient.watch({ clientId: 'w' });
    closers.push(() => watch.close());
    const ended = collect(watch, events);
    await until(() => watch.cursor !== undefined, 'the watch to start');
    const written: { index: number; type: SessionEventType; sessionId: string; version: number }[] = [];
    let killed: number | undefined;
    let receivedBeforeStop = 0;
    const writer = (async () => {
      const ids: string[] = [];
      for (let i = 0; i < 240; i++) {
        if (i === 80) {
          // freeze the node the watcher streams from: the writes of the next 80 steps reach the
          // watcher only if it resumes elsewhere from its cursor, not from "now"
          killed = cluster.endpoints.indexOf(watch.endpoint) + 1;
          await cluster.signal(killed, 'SIGSTOP');
          receivedBeforeStop = events.length;
        }
        if (i === 160) await cluster.signal(killed!, 'SIGKILL');
        const step = i % 4;
        if (step === 0 || ids.length === 0) {
          const { session, index } = await client.create({ clientId: 'w', transport: 'http', data: { i } });
          ids.push(session.sessionId);
          written.push({ index, type: 'created', sessionId: session.sessionId, version: 1 });
        } else if (step === 1) {
          const id = ids[ids.length - 1]!;
          const { session, index } = await client.update(id, { data: { i } });
          written.push({ index, type: 'updated', sessionId: id, version: session!.version });
        } else if (step === 2) {
          const id = ids[ids.length - 1]!;
          const { session, index } = await client.touch(id);
          written.push({ index, type: 'touched', sessionId: id, version: session!.version });
        } else {
          const id = ids.shift()!;
          const { index } = await client.delete(id);
          written.push({ index, type: 'deleted', sessionId: id, version: 0 });
        }
      }
    })();
    await writer;
    const lastIndex = written[written.length - 1]!.index;
    await until(() => events.length > 0 && events[events.length - 1]!.index >= lastIndex, `the watcher to reach index ${lastIndex}`, 30_000);
    expect(killed).toBeDefined();
    expect(killed).not.toBe(leader);
    expect(watch.endpoint).not.toBe(cluster.address(killed!));
    expect(receivedBeforeStop).toBeLessThan(100); // most events came after the resume
    // no duplicate, in order
    for (let i = 1; i < events.length; i++) {
      const [a, b] = [events[i - 1]!, events[i]!];
      expect(a.index < b.index || (a.index === b.index && a.position < b.position), `event ${i} (${b.index}, ${b.position}) after (${a.index}, ${a.position})`).toBe(true);
    }
    // no gap: exactly the acknowledged writes, each at its index (sequential writes: one entry each)
    expect(events.map((e) => ({ index: e.index, type: e.type, sessionId: e.session.sessionId }))).toEqual(
      written.map((w) => ({ index: w.index, type: w.type, sessionId: w.sessionId })),
    );
    for (const [i, w] of written.entries()) if (w.version > 0) expect(events[i]!.session.version).toBe(w.version);
    watch.close();
    expect(await ended).toBeUndefined();
  }, 90_000);
});
