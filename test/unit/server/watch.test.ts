/**
 * SessionService.Watch over real gRPC on 127.0.0.1, served by a WatchHub fed by hand: the wire
 * shape, every refusal and its status, the client token, and a client that stops reading cut
 * off RESOURCE_EXHAUSTED through grpc's own backpressure.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogIndex } from '../../../src/raft/index.js';
import { OLDEST_INDEX_METADATA_KEY, createAccessControl, type SessionApiOptions } from '../../../src/server/index.js';
import type { SessionChange } from '../../../src/session/index.js';
import { WatchHub, type WatchOptions } from '../../../src/watch/index.js';
import { change, changes } from '../watch/helpers.js';
import { FakeBackend } from './fake-backend.js';
import { rawSessionClient, startServer, type RawClient, type TestServer } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface WireEvent {
  index: number;
  position: number;
  slot: number;
  type: string;
  session: { sessionId: string; clientId: string; dataJson: string; version: number };
}
interface WireResponse {
  events: WireEvent[];
  progressIndex: number;
}

async function serve(watch: Partial<WatchOptions> = {}, api: SessionApiOptions = {}, serverOptions: grpc.ServerOptions = {}): Promise<{ server: TestServer; hub: WatchHub; client: RawClient }> {
  const hub = new WatchHub(watch);
  hub.reset(0 as LogIndex);
  const server = await startServer(new FakeBackend(), { watch: hub, ...api }, undefined, serverOptions);
  const client = rawSessionClient(server.address);
  cleanups.push(() => server.close(), () => client.close());
  return { server, hub, client };
}

/** A Watch call that records what arrives and how it ends. */
function watch(client: RawClient, request: Record<string, unknown>, metadata = new grpc.Metadata()) {
  const call = client.Watch(request, metadata) as grpc.ClientReadableStream<WireResponse>;
  const responses: WireResponse[] = [];
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    call.on('data', (response: WireResponse) => responses.push(response));
    call.on('error', (error: grpc.ServiceError) => resolve(error));
    call.on('end', () => resolve(undefined));
  });
  cleanups.push(() => call.cancel());
  const events = (): WireEvent[] => responses.flatMap((r) => r.events);
  return { call, responses, ended, events };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('SessionService/Watch', () => {
  it('streams the changes with their index, position, slot, type and session, after a progress report of where it starts', async () => {
    const { hub, client } = await serve();
    hub.applied(changes(1, 2), 2 as LogIndex);
    const w = watch(client, {});
    await until(() => w.responses.length >= 1, 'the first response');
    expect(w.responses[0]).toEqual({ events: [], progressIndex: 2 });
    const updated: SessionChange = { ...change(3, 0, 'bob', 'updated', { cart: [1] }), slot: 4 };
    hub.applied([updated, change(3, 1, 'bob', 'expired')], 3 as LogIndex);
    await until(() => w.events().length >= 2, 'two events');
    expect(w.events()[0]).toMatchObject({
      index: 3,
      position: 0,
      slot: 4,
      type: 'WATCH_EVENT_TYPE_UPDATED',
      session: { sessionId: 's3-0', clientId: 'bob', dataJson: '{"cart":[1]}', version: 1 },
    });
    expect(w.events()[1]).toMatchObject({ index: 3, position: 1, type: 'WATCH_EVENT_TYPE_EXPIRED' });
    expect(w.responses.at(-1)!.progressIndex).toBe(3);
  });

  it('resumes exactly from (from_index, from_position) and filters by client_id', async () => {
    const { hub, client } = await serve();
    hub.applied(changes(1, 4, 3, (i, p) => (p === 1 ? 'bob' : 'alice')), 4 as LogIndex);
    const all = watch(client, { fromIndex: 2, fromPosition: 2 });
    const bob = watch(client, { fromIndex: 1, clientId: 'bob' });
    await until(() => all.events().length >= 7 && bob.events().length >= 4, 'the catch-up');
    expect(all.events().map((e) => [e.index, e.position])).toEqual([[2, 2], [3, 0], [3, 1], [3, 2], [4, 0], [4, 1], [4, 2]]);
    expect(bob.events().map((e) => [e.index, e.position, e.session.clientId])).toEqual([[1, 1, 'bob'], [2, 1, 'bob'], [3, 1, 'bob'], [4, 1, 'bob']]);
  });

  it('answers OUT_OF_RANGE with the oldest index in the message and in x-oldest-index trailing metadata', async () => {
    const { hub, client } = await serve({ ringEventsMax: 5 });
    hub.applied(changes(1, 10), 10 as LogIndex);
    const error = await watch(client, { fromIndex: 3 }).ended;
    expect(error?.code).toBe(grpc.status.OUT_OF_RANGE);
    expect(error?.details).toMatch(/^from_index: 3 is older than the oldest index this node can serve, 6/);
    expect(error?.metadata.get(OLDEST_INDEX_METADATA_KEY)).toEqual(['6']);
  });

  it.each([
    [{ clientId: 'x'.repeat(300) }, /^client_id: /],
    [{ clientId: 'bad id\n' }, /^client_id: /],
    [{ fromIndex: 0, fromPosition: 3 }, /^from_position: 3 needs a from_index/],
    [{ fromIndex: '9007199254740993' }, /^from_index: .* is not an integer below 2\^53/],
  ])('answers INVALID_ARGUMENT naming the field for %j', async (request, message) => {
    const { client, hub } = await serve();
    const error = await watch(client, request).ended;
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(message);
    expect(hub.stats().watchers).toBe(0);
  });

  it('answers RESOURCE_EXHAUSTED past the watch streams bound, and UNAVAILABLE to every stream once the hub closes', async () => {
    const { hub, client } = await serve({ streamsMax: 2 });
    const open = [watch(client, {}), watch(client, {})];
    await until(() => hub.stats().watchers === 2, 'two watchers');
    const refused = await watch(client, {}).ended;
    expect(refused?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused?.details).toMatch(/streamsMax \(2\)/);
    hub.close();
    for (const w of open) expect((await w.ended)?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('forgets a watcher whose client cancels', async () => {
    const { hub, client } = await serve();
    const w = watch(client, {});
    await until(() => hub.stats().watchers === 1, 'the watcher');
    w.call.cancel();
    await until(() => hub.stats().watchers === 0, 'the watcher to go');
  });

  it('answers UNIMPLEMENTED on a server given no watch source', async () => {
    const server = await startServer(new FakeBackend());
    const client = rawSessionClient(server.address);
    cleanups.push(() => server.close(), () => client.close());
    const error = await watch(client, {}).ended;
    expect(error?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('refuses a watch without the client token UNAUTHENTICATED, and serves one with it', async () => {
    const token = 'a-client-token-of-some-length';
    const access = createAccessControl({ clientToken: token });
    const { hub, client } = await serve({}, {}, { interceptors: [access.interceptor] });
    const refused = await watch(client, {}).ended;
    expect(refused?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(hub.stats().watchers).toBe(0);
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    const w = watch(client, {}, metadata);
    await until(() => w.responses.length >= 1, 'the first response');
    expect(hub.stats().watchers).toBe(1);
  });

  it('cuts off a client that stops reading with RESOURCE_EXHAUSTED (grpc backpressure fills its queue), while another watcher gets everything', async () => {
    const { hub, client } = await serve({ queueEventsMax: 64 });
    const stuck = watch(client, {});
    const reader = watch(client, {});
    await until(() => stuck.responses.length >= 1 && reader.responses.length >= 1, 'both watchers');
    stuck.call.pause(); // reads nothing more: HTTP/2 flow control stops the server's writes
    const data = { blob: 'x'.repeat(4_000) };
    let index = 0;
    for (; index < 2_000 && hub.stats().watchers === 2; index++) {
      hub.applied([change(index + 1, 0, 'alice', 'updated', data)], (index + 1) as LogIndex);
      expect(hub.stats().queuedEvents).toBeLessThanOrEqual(65);
      await new Promise((resolve) => setImmediate(resolve)); // let grpc write
    }
    expect(hub.stats().watchers).toBe(1);
    // far fewer than 2,000 changes of 4 KB: the flow-control window plus the queue bound
    expect(index).toBeLessThan(1_000);
    stuck.call.resume();
    const error = await stuck.ended;
    expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(error?.details).toMatch(/does not keep up/);
    await until(() => reader.events().length >= index, 'the reader to get everything');
    expect(reader.events().map((e) => e.index)).toEqual(Array.from({ length: index }, (_, i) => i + 1));
  });
});
