/**
 * The SDK's watch over fake streams: resuming after a failure from the cursor on the next
 * endpoint (no gap, no duplicate), OUT_OF_RANGE, errors that end it, the bounded buffer, abort.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  InvalidArgumentError,
  OutOfRangeError,
  ResourceExhaustedError,
  SessionWatch,
  UnavailableError,
  type SessionEvent,
  type WatchOptions,
} from '../../../src/client/index.js';
import type { WireWatchEvent, WireWatchRequest, WireWatchResponse } from '../../../src/client/watch.js';

class FakeStream extends EventEmitter {
  paused = false;
  cancelled = false;
  pauses = 0;
  constructor(
    readonly address: string,
    readonly request: WireWatchRequest,
  ) {
    super();
  }
  pause(): void {
    this.paused = true;
    this.pauses++;
  }
  resume(): void {
    this.paused = false;
  }
  cancel(): void {
    this.cancelled = true;
  }
  send(progressIndex: number, ...events: [number, number][]): void {
    this.emit('data', { events: events.map(([index, position]) => wireEvent(index, position)), progressIndex } satisfies WireWatchResponse);
  }
  failWith(code: grpc.status, details = 'boom', metadata = new grpc.Metadata()): void {
    this.emit('error', Object.assign(new Error(details), { code, details, metadata }));
  }
}

function wireEvent(index: number, position: number): WireWatchEvent {
  return {
    index,
    position,
    slot: 0,
    type: 'WATCH_EVENT_TYPE_UPDATED',
    session: {
      sessionId: `s${index}-${position}`,
      clientId: 'alice',
      transport: 'http',
      createdAtMs: 1,
      updatedAtMs: 1,
      lastActivityMs: 1,
      dataJson: '{}',
      ttlMs: 1_000,
      maxLifetimeMs: 0,
      version: 1,
      expiresAtMs: 1_001,
    },
  };
}

const ENDPOINTS = ['n1:1', 'n2:1', 'n3:1'];

function watchOver(options: WatchOptions = {}): { watch: SessionWatch; streams: FakeStream[] } {
  const streams: FakeStream[] = [];
  const watch = new SessionWatch(
    ENDPOINTS,
    'n1:1',
    (address, request) => {
      const stream = new FakeStream(address, request);
      streams.push(stream);
      return stream;
    },
    options,
    { retryBackoffMs: 5, retryBackoffMsMax: 20 },
  );
  return { watch, streams };
}

async function take(watch: SessionWatch, count: number): Promise<SessionEvent[]> {
  const out: SessionEvent[] = [];
  for (let i = 0; i < count; i++) {
    const next = await watch.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(condition()).toBe(true);
}

const positions = (events: readonly SessionEvent[]) => events.map((e) => [e.index, e.position]);

describe('SessionWatch', () => {
  it('resumes on the next endpoint from the event after the last one it received, dropping what it already had', async () => {
    const { watch, streams } = watchOver({ clientId: 'alice' });
    expect(streams[0]!.request).toEqual({ clientId: 'alice', fromIndex: 0, fromPosition: 0 });
    streams[0]!.send(10);
    streams[0]!.send(11, [11, 0], [11, 1]);
    streams[0]!.send(11, [12, 0]); // index 12 not complete yet
    streams[0]!.failWith(grpc.status.UNAVAILABLE, 'Connection dropped');
    await until(() => streams.length === 2);
    expect(streams[1]!.address).toBe('n2:1');
    expect(streams[1]!.request).toEqual({ clientId: 'alice', fromIndex: 12, fromPosition: 1 });
    streams[1]!.send(11);
    streams[1]!.send(13, [12, 0], [12, 1], [13, 0]); // a node that repeats (12, 0): dropped
    expect(positions(await take(watch, 5))).toEqual([[11, 0], [11, 1], [12, 0], [12, 1], [13, 0]]);
    expect(watch.cursor).toEqual({ index: 14, position: 0 });
    expect(watch.endpoint).toBe('n2:1');
    watch.close();
    expect(streams[1]!.cancelled).toBe(true);
  });

  it('moves its cursor with progress reports, so a resume skips what it has seen without events', async () => {
    const { watch, streams } = watchOver({ fromIndex: 5, fromPosition: 2 });
    expect(streams[0]!.request).toMatchObject({ fromIndex: 5, fromPosition: 2 });
    expect(watch.cursor).toEqual({ index: 5, position: 2 });
    streams[0]!.send(4); // the header: not past the cursor
    expect(watch.cursor).toEqual({ index: 5, position: 2 });
    streams[0]!.send(40);
    streams[0]!.failWith(grpc.status.CANCELLED);
    await until(() => streams.length === 2);
    expect(streams[1]!.request).toMatchObject({ fromIndex: 41, fromPosition: 0 });
    watch.close();
  });

  it('tries every endpoint on OUT_OF_RANGE, then throws OutOfRangeError with the smallest oldest index after the events it had', async () => {
    const { watch, streams } = watchOver({ fromIndex: 3 });
    streams[0]!.send(2, [3, 0]);
    const oldest = (n: number) => {
      const metadata = new grpc.Metadata();
      metadata.set('x-oldest-index', String(n));
      return metadata;
    };
    streams[0]!.failWith(grpc.status.OUT_OF_RANGE, 'too old', oldest(900));
    await until(() => streams.length === 2);
    expect(streams[1]!.request).toMatchObject({ fromIndex: 3, fromPosition: 1 });
    streams[1]!.failWith(grpc.status.OUT_OF_RANGE, 'too old', oldest(700));
    await until(() => streams.length === 3);
    streams[2]!.failWith(grpc.status.OUT_OF_RANGE, 'too old', oldest(800));
    expect(positions(await take(watch, 1))).toEqual([[3, 0]]);
    const error = await watch.next().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutOfRangeError);
    expect((error as OutOfRangeError).oldestIndex).toBe(700);
    expect(await watch.next()).toEqual({ value: undefined, done: true });
  });

  it('an answer in between starts the OUT_OF_RANGE count again', async () => {
    const { watch, streams } = watchOver({ fromIndex: 3 });
    streams[0]!.failWith(grpc.status.OUT_OF_RANGE);
    await until(() => streams.length === 2);
    streams[1]!.send(2, [3, 0]);
    streams[1]!.failWith(grpc.status.UNAVAILABLE);
    await until(() => streams.length === 3);
    streams[2]!.failWith(grpc.status.OUT_OF_RANGE);
    await until(() => streams.length === 4);
    expect(watch.closed).toBe(false);
    watch.close();
  });

  it.each([
    [grpc.status.INVALID_ARGUMENT, InvalidArgumentError],
    [grpc.status.RESOURCE_EXHAUSTED, ResourceExhaustedError],
  ])('ends with the typed error of status %i, after the events it had, without another attempt', async (code, ErrorClass) => {
    const { watch, streams } = watchOver();
    streams[0]!.send(1, [2, 0]);
    streams[0]!.failWith(code, 'no');
    expect(positions(await take(watch, 1))).toEqual([[2, 0]]);
    await expect(watch.next()).rejects.toBeInstanceOf(ErrorClass);
    await new Promise((r) => setTimeout(r, 30));
    expect(streams).toHaveLength(1);
  });

  it('pauses the stream once bufferEventsMax events wait, and resumes it when the consumer drained half', async () => {
    const { watch, streams } = watchOver({ bufferEventsMax: 4 });
    const stream = streams[0]!;
    stream.send(0, [1, 0], [1, 1], [1, 2]);
    expect(stream.paused).toBe(false);
    stream.send(1, [2, 0]);
    expect(stream.paused).toBe(true);
    await take(watch, 1);
    expect(stream.paused).toBe(true);
    await take(watch, 1);
    expect(stream.paused).toBe(false);
    expect(positions(await take(watch, 2))).toEqual([[1, 2], [2, 0]]);
    watch.close();
  });

  it('ends with CancelledError when its signal aborts, cancelling the stream', async () => {
    const controller = new AbortController();
    const { watch, streams } = watchOver({ signal: controller.signal });
    const pending = watch.next();
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    expect(streams[0]!.cancelled).toBe(true);
  });

  it('gives up with UnavailableError once no endpoint served it for reconnectTimeoutMs', async () => {
    const { watch, streams } = watchOver({ reconnectTimeoutMs: 100 });
    const failing = setInterval(() => {
      const last = streams[streams.length - 1]!;
      if (!last.cancelled && last.listenerCount('error') > 0) last.failWith(grpc.status.UNAVAILABLE, 'No connection established');
    }, 5);
    try {
      const error = await watch.next().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as Error).message).toMatch(/served the watch for 100 ms; the last said: No connection established/);
      expect(new Set(streams.map((s) => s.address))).toEqual(new Set(ENDPOINTS));
    } finally {
      clearInterval(failing);
    }
  });

  it('a break out of for await cancels the stream', async () => {
    const { watch, streams } = watchOver();
    streams[0]!.send(0, [1, 0], [1, 1]);
    for await (const event of watch) {
      expect(event.index).toBe(1);
      break;
    }
    expect(streams[0]!.cancelled).toBe(true);
    expect(watch.closed).toBe(true);
  });
});
