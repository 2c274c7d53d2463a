/**
 * SessionService.Batch: many operations over one bidirectional stream. Items run concurrently
 * (never serialized), each answered when it completes; results finished in the same event-loop
 * turn travel together in one BatchResponse. A stream holds at most batchInflightItemsMax items
 * between arrival and the flush of their result: at the limit it stops reading (HTTP/2 flow
 * control pushes back on the client), and items beyond it inside one BatchRequest fail with
 * RESOURCE_EXHAUSTED.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ApiError, invalidArgument, toApiError, toServiceError, toWireError } from './errors.js';
import { malformedReason } from './decode.js';
import type { CallContext, Handlers } from './handlers.js';
import { wireSessionBytes } from './mapping.js';
import type { ResolvedSessionApiOptions } from './options.js';
import type { Operation, WireBatchItem, WireBatchRequest, WireBatchResponse, WireBatchResult } from './wire.js';

type BatchCall = ServerDuplexStream<WireBatchRequest, WireBatchResponse>;
type AnyHandler = (request: unknown, context: CallContext) => Promise<unknown>;

const RESULT_FIXED_BYTES = 24;

/** About how many bytes a result takes on the wire: what decides when a response is cut. */
function resultBytes(result: WireBatchResult): number {
  if ('error' in result) return RESULT_FIXED_BYTES + result.error.message.length + result.error.leaderAddress.length;
  if ('list' in result) return result.list.sessions.reduce((sum, s) => sum + wireSessionBytes(s), RESULT_FIXED_BYTES);
  const response = Object.values(result).find((value) => typeof value === 'object' && value !== null) as
    | { session?: unknown }
    | undefined;
  const session = response?.session as Parameters<typeof wireSessionBytes>[0] | null | undefined;
  return RESULT_FIXED_BYTES + (session ? wireSessionBytes(session) : 16);
}

/** Milliseconds until a gRPC deadline; undefined when there is none. */
export function remainingMs(deadline: Date | number, nowMs: number): number | undefined {
  const atMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(atMs) ? atMs - nowMs : undefined;
}

export class BatchStream {
  private readonly controller = new AbortController();
  /** Ids of items being processed: an id must be unique among them. */
  private readonly processingIds = new Set<number>();
  /** Items accepted whose result is not yet flushed to the transport (processing, queued or being written). */
  private unflushedItems = 0;
  private queued: WireBatchResult[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private paused = false;
  private inputEnded = false;
  private closed = false;
  private readonly deadlineAtMs: number | undefined;

  constructor(
    private readonly call: BatchCall,
    private readonly handlers: Handlers,
    private readonly options: ResolvedSessionApiOptions,
    private readonly logger: Logger,
  ) {
    const remaining = remainingMs(call.getDeadline(), Date.now());
    this.deadlineAtMs = remaining === undefined ? undefined : Date.now() + remaining;
    call.on('data', (request: WireBatchRequest) => this.onRequest(request));
    call.on('end', () => {
      this.inputEnded = true;
      this.endIfDone();
    });
    call.on('cancelled', () => this.close());
    call.on('error', (error: Error) => {
      logger.debug({ err: error }, 'batch stream error');
      this.close();
    });
  }

  private onRequest(request: WireBatchRequest): void {
    const malformed = malformedReason(request);
    if (malformed !== undefined) return this.fail(new ApiError(status.INVALID_ARGUMENT, malformed));
    for (const item of request.items) this.accept(item);
    if (!this.paused && this.unflushedItems >= this.options.batchInflightItemsMax) {
      this.paused = true;
      this.call.pause();
    }
  }

  private accept(item: WireBatchItem): void {
    if (this.closed) return;
    this.unflushedItems++;
    const id = item.id;
    if (this.unflushedItems > this.options.batchInflightItemsMax) {
      const limit = this.options.batchInflightItemsMax;
      return this.enqueue({ id, error: toWireError(new ApiError(status.RESOURCE_EXHAUSTED, `more than batchInflightItemsMax (${limit}) items in flight on this stream; wait for results`)) });
    }
    const operation: Operation | undefined = item.request;
    if (operation === undefined) return this.enqueue({ id, error: toWireError(invalidArgument('request', `item ${id} sets no operation`)) });
    if (this.processingIds.has(id)) {
      return this.enqueue({ id, error: toWireError(invalidArgument('id', `${id} is already in flight on this stream`)) });
    }
    this.processingIds.add(id);
    const handler = this.handlers[operation] as AnyHandler;
    handler(item[operation], { signal: this.controller.signal, deadlineMs: this.itemDeadlineMs(item) }).then(
      (response) => this.complete(id, { id, [operation]: response } as WireBatchResult),
      (error: unknown) => this.complete(id, { id, error: toWireError(toApiError(error, this.controller.signal, this.logger)) }),
    );
  }

  private itemDeadlineMs(item: WireBatchItem): number | undefined {
    const streamMs = this.deadlineAtMs === undefined ? undefined : this.deadlineAtMs - Date.now();
    if (item.timeoutMs === 0) return streamMs;
    return streamMs === undefined ? item.timeoutMs : Math.min(streamMs, item.timeoutMs);
  }

  private complete(id: number, result: WireBatchResult): void {
    this.processingIds.delete(id);
    this.enqueue(result);
  }

  private enqueue(result: WireBatchResult): void {
    if (this.closed) return;
    this.queued.push(result);
    this.queuedBytes += resultBytes(result);
    if (this.queuedBytes >= this.options.batchResponseBytesMax) {
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After this turn's I/O and promise callbacks: everything finished meanwhile goes together.
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    if (this.closed || this.queued.length === 0) return;
    const results = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    this.call.write({ results }, () => this.flushed(results.length));
  }

  private flushed(count: number): void {
    this.unflushedItems -= count;
    if (this.unflushedItems < 0) throw new Error(`batch stream flushed more results than items: ${this.unflushedItems}`);
    if (this.paused && this.unflushedItems < this.options.batchInflightItemsMax) {
      this.paused = false;
      this.call.resume();
    }
    this.endIfDone();
  }

  private endIfDone(): void {
    if (this.closed || !this.inputEnded || this.unflushedItems > 0) return;
    this.closed = true;
    this.call.end();
  }

  /** Ends the stream with `error` as its status: what is in flight is aborted, its results dropped. */
  private fail(error: ApiError): void {
    if (this.closed) return;
    this.close();
    this.call.emit('error', toServiceError(error));
  }

  /** The client went away: abort what is in flight and drop the results. */
  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.abort(new DOMException('the batch stream was cancelled', 'AbortError'));
    this.queued = [];
  }
}
