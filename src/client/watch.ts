/**
 * SessionWatch: the SDK side of SessionService/Watch, an AsyncIterable of session events that
 * survives node failures. It keeps a cursor, the (index, position) of the next event it wants:
 * after each event the one after it, after a progress report the entry after it. When a stream
 * fails (UNAVAILABLE and the like: a node killed, stopping, unreachable) it watches again from
 * the cursor on the next endpoint, with backoff and jitter, so the events it yields have no gap
 * and no duplicate (it also drops any event before its cursor). OUT_OF_RANGE from a node sends it
 * to the others; from all of them it ends the iteration with OutOfRangeError (oldestIndex). Any
 * other status ends it with that error. Events wait in a bounded buffer: once it holds
 * bufferEventsMax the stream is paused, and a consumer that stays that slow is cut off by the
 * node (ResourceExhaustedError, after the events already received).
 */
import { retryPauseMs } from './backoff.js';
import * as grpc from '@grpc/grpc-js';
import { CancelledError, OutOfRangeError, SessionRaftError, UnavailableError, errorFromStatus } from './errors.js';
import { sessionFromWire } from './mapping.js';
import type { WatchEvent__Output, WatchRequest, WatchResponse__Output } from '../proto/index.js';
import type { Session } from './types.js';

/** Trailing metadata of an OUT_OF_RANGE watch: the oldest index that node can serve. */
export const OLDEST_INDEX_METADATA_KEY = 'x-oldest-index';

export type SessionEventType = 'created' | 'updated' | 'touched' | 'deleted' | 'expired';

/** One change to one session. */
export interface SessionEvent {
  /** created/updated/touched: `session` is the session after it; deleted/expired: its last version. */
  readonly type: SessionEventType;
  /** The log index of the entry that made the change. */
  readonly index: number;
  /** Its ordinal among the changes of that entry: (index, position) names it in the whole cluster. */
  readonly position: number;
  /** The command's slot in its entry. */
  readonly slot: number;
  readonly session: Session;
}

/** Where a watch goes on from: the next event wanted. */
export interface WatchCursor {
  readonly index: number;
  readonly position: number;
}

export interface WatchOptions {
  /** Only the sessions of this client. @default every client */
  readonly clientId?: string;
  /**
   * The first log index wanted (e.g. the `index` of a write, or `cursor.index` of an earlier
   * watch). @default the next entry the node applies
   */
  readonly fromIndex?: number;
  /** With fromIndex: skip this many events of that entry (`cursor.position`). @default 0 */
  readonly fromPosition?: number;
  /** Ends the watch: the iteration throws CancelledError. */
  readonly signal?: AbortSignal;
  /** Events received and not yet consumed before the stream is paused (one response more may arrive). @default 1_024 */
  readonly bufferEventsMax?: number;
  /** After a stream fails, how long to keep trying the endpoints before the iteration throws. @default 30_000 */
  readonly reconnectTimeoutMs?: number;
}

// ---- the wire: the types generated from proto/session.proto (src/proto/)

export type WireWatchRequest = WatchRequest;
export type WireWatchEvent = WatchEvent__Output;
export type WireWatchResponse = WatchResponse__Output;

/** What SessionWatch needs of a gRPC server stream (a ClientReadableStream fits). */
export interface WatchStream {
  on(event: 'data', listener: (response: WireWatchResponse) => void): unknown;
  on(event: 'error', listener: (error: grpc.ServiceError) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  pause(): void;
  resume(): void;
  cancel(): void;
}

/** Opens a Watch stream to one endpoint. */
export type OpenWatchStream = (address: string, request: WireWatchRequest) => WatchStream;

export interface WatchBackoff {
  /** @default 50 */
  readonly retryBackoffMs: number;
  /** @default 1_000 */
  readonly retryBackoffMsMax: number;
}

const EVENT_TYPES: Readonly<Record<string, SessionEventType>> = Object.freeze({
  WATCH_EVENT_TYPE_CREATED: 'created',
  WATCH_EVENT_TYPE_UPDATED: 'updated',
  WATCH_EVENT_TYPE_TOUCHED: 'touched',
  WATCH_EVENT_TYPE_DELETED: 'deleted',
  WATCH_EVENT_TYPE_EXPIRED: 'expired',
});

/** Statuses after which the watch goes on elsewhere: the node (or the way to it) failed. */
const RESUMABLE = new Set<number>([grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.UNKNOWN, grpc.status.ABORTED, grpc.status.INTERNAL]);

const compare = (a: WatchCursor, b: WatchCursor): number => a.index - b.index || a.position - b.position;

function checkedInteger(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

interface Waiter {
  resolve(result: IteratorResult<SessionEvent>): void;
  reject(error: unknown): void;
}

export class SessionWatch implements AsyncIterableIterator<SessionEvent> {
  private cursorAt: WatchCursor | undefined;
  private readonly clientId: string;
  private readonly bufferEventsMax: number;
  private readonly reconnectTimeoutMs: number;
  private buffer: SessionEvent[] = [];
  private bufferHead = 0;
  private waiter: Waiter | undefined;
  private failure: Error | undefined;
  private finished = false;
  private stream: WatchStream | undefined;
  private paused = false;
  private endpointAt: number;
  /** Attempts since the last response, and since when no stream has answered. */
  private attempts = 0;
  private failingSinceMs: number | undefined;
  /** Endpoints that answered OUT_OF_RANGE since the last response, with their oldest index. */
  private readonly outOfRange = new Map<string, number | undefined>();
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly onAbort = (): void => {
    this.buffer = [];
    this.bufferHead = 0;
    this.fail(new CancelledError(grpc.status.CANCELLED, 'the watch was aborted'));
  };

  constructor(
    private readonly endpoints: readonly string[],
    startAt: string,
    private readonly openStream: OpenWatchStream,
    options: WatchOptions,
    private readonly backoff: WatchBackoff,
    private readonly onClose: (watch: SessionWatch) => void = () => undefined,
  ) {
    if (endpoints.length === 0) throw new RangeError('a watch needs at least one endpoint');
    const fromIndex = checkedInteger('fromIndex', options.fromIndex, 0, 0);
    const fromPosition = checkedInteger('fromPosition', options.fromPosition, 0, 0);
    if (fromIndex === 0 && fromPosition > 0) throw new RangeError('fromPosition needs a fromIndex');
    this.cursorAt = fromIndex > 0 ? { index: fromIndex, position: fromPosition } : undefined;
    this.clientId = options.clientId ?? '';
    this.bufferEventsMax = checkedInteger('bufferEventsMax', options.bufferEventsMax, 1_024, 1);
    this.reconnectTimeoutMs = checkedInteger('reconnectTimeoutMs', options.reconnectTimeoutMs, 30_000, 1);
    this.endpointAt = Math.max(0, endpoints.indexOf(startAt));
    const signal = options.signal;
    if (signal?.aborted) {
      this.onAbort();
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    this.signal = signal;
    this.open();
  }

  private readonly signal: AbortSignal | undefined;

  /** The next event wanted: watch again from it (fromIndex, fromPosition) to go on after this watch. Undefined until the first response. */
  get cursor(): WatchCursor | undefined {
    return this.cursorAt;
  }

  /** True once the watch ended (closed, failed or aborted); its stream is gone. */
  get closed(): boolean {
    return this.finished || this.failure !== undefined;
  }

  /** The endpoint the watch streams from now. */
  get endpoint(): string {
    return this.endpoints[this.endpointAt]!;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<SessionEvent> {
    return this;
  }

  next(): Promise<IteratorResult<SessionEvent>> {
    if (this.bufferHead < this.buffer.length) return Promise.resolve({ value: this.shift(), done: false });
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      this.finished = true;
      return Promise.reject(failure);
    }
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter !== undefined) return Promise.reject(new Error('next() called again before the previous call settled'));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Ends the watch (a `break` out of `for await` calls it). */
  return(): Promise<IteratorResult<SessionEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Ends the watch: the stream is cancelled, buffered events are dropped. */
  close(): void {
    if (this.finished && this.stream === undefined) return;
    this.finished = true;
    this.failure = undefined;
    this.buffer = [];
    this.bufferHead = 0;
    this.stop();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve({ value: undefined, done: true });
  }

  // ---- the stream

  private open(): void {
    const cursor = this.cursorAt;
    const request: WireWatchRequest = { clientId: this.clientId, fromIndex: cursor?.index ?? 0, fromPosition: cursor?.position ?? 0 };
    const address = this.endpoint;
    let stream: WatchStream;
    try {
      stream = this.openStream(address, request);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.stream = stream;
    this.paused = false;
    stream.on('data', (response) => {
      if (this.stream === stream) this.onResponse(response);
    });
    stream.on('error', (error) => {
      if (this.stream === stream) this.onStreamFailed(address, error);
    });
    stream.on('end', () => {
      if (this.stream !== stream) return;
      const ended = Object.assign(new Error('the watch stream ended'), { code: grpc.status.UNAVAILABLE, details: `the watch stream from ${address} ended`, metadata: new grpc.Metadata() });
      this.onStreamFailed(address, ended as grpc.ServiceError);
    });
  }

  private onResponse(response: WireWatchResponse): void {
    this.attempts = 0;
    this.failingSinceMs = undefined;
    this.outOfRange.clear();
    for (const wire of response.events) {
      const at = { index: wire.index, position: wire.position };
      if (this.cursorAt !== undefined && compare(at, this.cursorAt) < 0) continue; // seen before
      this.cursorAt = { index: wire.index, position: wire.position + 1 };
      const type = EVENT_TYPES[wire.type];
      if (type === undefined || wire.session === null) continue; // a type this SDK does not know
      this.buffer.push({ type, index: wire.index, position: wire.position, slot: wire.slot, session: sessionFromWire(wire.session) });
    }
    if (this.cursorAt === undefined || response.progressIndex + 1 > this.cursorAt.index) {
      this.cursorAt = { index: response.progressIndex + 1, position: 0 };
    }
    if (this.buffer.length - this.bufferHead >= this.bufferEventsMax && !this.paused) {
      this.paused = true;
      this.stream?.pause();
    }
    this.wake();
  }

  private onStreamFailed(address: string, error: grpc.ServiceError): void {
    this.stream = undefined;
    if (this.finished) return;
    const details = error.details || error.message;
    if (error.code === grpc.status.OUT_OF_RANGE) {
      const oldest = Number(error.metadata?.get(OLDEST_INDEX_METADATA_KEY)[0]);
      this.outOfRange.set(address, Number.isSafeInteger(oldest) ? oldest : undefined);
      if (this.outOfRange.size >= this.endpoints.length) {
        const known = [...this.outOfRange.values()].filter((v): v is number => v !== undefined);
        const oldestIndex = known.length > 0 ? Math.min(...known) : undefined;
        return this.fail(new OutOfRangeError(error.code, details, undefined, { oldestIndex }));
      }
      return this.retry(error, 0);
    }
    if (!RESUMABLE.has(error.code)) return this.fail(errorFromStatus(error.code, details));
    this.retry(error, undefined);
  }

  /** Watches again from the cursor on the next endpoint, after `delayMs` or a backoff with jitter. */
  private retry(error: grpc.ServiceError, delayMs: number | undefined): void {
    const now = Date.now();
    this.failingSinceMs ??= now;
    if (now - this.failingSinceMs > this.reconnectTimeoutMs) {
      return this.fail(
        new UnavailableError(
          grpc.status.UNAVAILABLE,
          `no endpoint of ${this.endpoints.join(', ')} served the watch for ${this.reconnectTimeoutMs} ms; the last said: ${error.details || error.message}`,
        ),
      );
    }
    const waitMs = delayMs ?? (this.attempts === 0 ? 0 : retryPauseMs(this.attempts - 1, this.backoff.retryBackoffMs, this.backoff.retryBackoffMsMax));
    this.attempts++;
    this.endpointAt = (this.endpointAt + 1) % this.endpoints.length;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.finished && this.failure === undefined) this.open();
    }, waitMs);
  }

  // ---- the consumer

  private shift(): SessionEvent {
    const event = this.buffer[this.bufferHead++]!;
    if (this.bufferHead === this.buffer.length) {
      this.buffer = [];
      this.bufferHead = 0;
    } else if (this.bufferHead >= 1_024 && this.bufferHead * 2 >= this.buffer.length) {
      this.buffer = this.buffer.slice(this.bufferHead);
      this.bufferHead = 0;
    }
    if (this.paused && this.buffer.length - this.bufferHead <= this.bufferEventsMax / 2) {
      this.paused = false;
      this.stream?.resume();
    }
    return event;
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    if (this.bufferHead < this.buffer.length) {
      this.waiter = undefined;
      waiter.resolve({ value: this.shift(), done: false });
    } else if (this.failure !== undefined) {
      this.waiter = undefined;
      const failure = this.failure;
      this.failure = undefined;
      this.finished = true;
      waiter.reject(failure);
    }
  }

  /** Ends the stream; the consumer gets the buffered events, then `error`. */
  private fail(error: Error): void {
    if (this.finished || this.failure !== undefined) return;
    this.failure = error instanceof SessionRaftError ? error : new UnavailableError(grpc.status.UNAVAILABLE, error.message, undefined, { cause: error });
    this.stop();
    this.wake();
  }

  private stop(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    this.signal?.removeEventListener('abort', this.onAbort);
    this.onClose(this);
  }
}
