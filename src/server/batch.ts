/**
 * SessionService.Batch: many operations over one bidirectional stream. Items run concurrently
 * (never serialized), each answered when it completes; results finished in the same event-loop
 * turn travel together in one BatchResponse.
 *
 * What one stream may hold is bounded, also against a client that sends and never reads:
 * - Items: at most batchInflightItemsMax between arrival and the flush of their result. At the
 *   limit the stream stops reading (HTTP/2 flow control pushes back on the client); items beyond
 *   it inside one BatchRequest fail with RESOURCE_EXHAUSTED.
 * - Results: one BatchResponse at a time is handed to the transport (its write completes once
 *   HTTP/2 sent it, i.e. once the client granted the window); later results wait here. While a
 *   full response or more waits, the stream reads no new request. Items accepted before that
 *   still complete: a read whose result would take the waiting bytes past batchUnsentBytesMax is
 *   answered RESOURCE_EXHAUSTED instead (a read changes nothing; the client may retry it). A
 *   write's result is kept (its effect happened) up to twice that bound; past it the client is
 *   not reading and the stream ends RESOURCE_EXHAUSTED: what is in flight is aborted, the waiting
 *   results are dropped (as on any broken stream the client does not know those writes'
 *   outcomes; a retry with the same request id is answered exactly once).
 */
import { setMaxListeners } from 'node:events';
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
/** Operations that change nothing: their result may be replaced by RESOURCE_EXHAUSTED. */
const READ_OPERATIONS: ReadonlySet<Operation> = new Set<Operation>(['get', 'list', 'count']);

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

/** A result waiting to be sent, with its size estimate. */
interface Unsent {
  readonly result: WireBatchResult;
  readonly bytes: number;
}

export class BatchStream {
  private readonly controller = new AbortController();
  /** Ids of items being processed: an id must be unique among them. */
  private readonly processingIds = new Set<number>();
  /** Items accepted whose result is not yet flushed to the transport (processing, queued or being written). */
  private unflushedItems = 0;
  /** Results completed and not yet handed to the transport. */
  private queued: Unsent[] = [];
  private queuedBytes = 0;
  /** The one BatchResponse handed to the transport whose write has not completed. */
  private writing: { readonly items: number; readonly bytes: number } | undefined;
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
    /** Told each item answered, with its operation and status code (the request counter). */
    private readonly onItemAnswered: (operation: Operation | undefined, code: status) => void = () => {},
  ) {
    // Every item in flight listens on this one signal (up to batchInflightItemsMax): without this,
    // the 11th printed a MaxListenersExceededWarning ("possible memory leak") on the node's stderr.
    setMaxListeners(options.batchInflightItemsMax + 1, this.controller.signal);
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

  /** Bytes of results the client has not received yet: waiting here or being written. */
  private unsentBytes(): number {
    return this.queuedBytes + (this.writing?.bytes ?? 0);
  }

  private onRequest(request: WireBatchRequest): void {
    const malformed = malformedReason(request);
    if (malformed !== undefined) return this.fail(new ApiError(status.INVALID_ARGUMENT, malformed));
    for (const item of request.items) this.accept(item);
    this.updateReading();
  }

  /** Reads requests only while items and results are under their bounds: else the client waits. */
  private updateReading(): void {
    if (this.closed) return;
    const behind =
      this.unflushedItems >= this.options.batchInflightItemsMax || this.unsentBytes() >= this.options.batchResponseBytesMax;
    if (behind && !this.paused) {
      this.paused = true;
      this.call.pause();
    } else if (!behind && this.paused) {
      this.paused = false;
      this.call.resume();
    }
  }

  private accept(item: WireBatchItem): void {
    if (this.closed) return;
    this.unflushedItems++;
    const id = item.id;
    if (this.unflushedItems > this.options.batchInflightItemsMax) {
      const limit = this.options.batchInflightItemsMax;
      return this.enqueue({ id, error: toWireError(new ApiError(status.RESOURCE_EXHAUSTED, `more than batchInflightItemsMax (${limit}) items in flight on this stream; wait for results`)) }, item.request);
    }
    const operation: Operation | undefined = item.request;
    if (operation === undefined) return this.enqueue({ id, error: toWireError(invalidArgument('request', `item ${id} sets no operation`)) }, operation);
    if (this.processingIds.has(id)) {
      return this.enqueue({ id, error: toWireError(invalidArgument('id', `${id} is already in flight on this stream`)) }, operation);
    }
    this.processingIds.add(id);
    const handler = this.handlers[operation] as AnyHandler;
    const read = READ_OPERATIONS.has(operation);
    handler(item[operation], { signal: this.controller.signal, deadlineMs: this.itemDeadlineMs(item) }).then(
      (response) => this.complete(id, operation, { id, [operation]: response } as WireBatchResult, read),
      (error: unknown) => this.complete(id, operation, { id, error: toWireError(toApiError(error, this.controller.signal, this.logger)) }),
    );
  }

  private itemDeadlineMs(item: WireBatchItem): number | undefined {
    const streamMs = this.deadlineAtMs === undefined ? undefined : this.deadlineAtMs - Date.now();
    if (item.timeoutMs === 0) return streamMs;
    return streamMs === undefined ? item.timeoutMs : Math.min(streamMs, item.timeoutMs);
  }

  private complete(id: number, operation: Operation, result: WireBatchResult, read = false): void {
    this.processingIds.delete(id);
    if (read && !this.closed) {
      const unsent = this.unsentBytes();
      const limit = this.options.batchUnsentBytesMax;
      if (unsent + resultBytes(result) > limit) {
        const message = `${unsent} bytes of results wait for this client to read them, batchUnsentBytesMax (${limit}): read results as they come, or send fewer reads at once`;
        return this.enqueue({ id, error: toWireError(new ApiError(status.RESOURCE_EXHAUSTED, message)) }, operation);
      }
    }
    this.enqueue(result, operation);
  }

  private enqueue(result: WireBatchResult, operation: Operation | undefined): void {
    if (this.closed) return;
    this.onItemAnswered(operation, 'error' in result ? (result.error.code as status) : status.OK);
    const bytes = resultBytes(result);
    this.queued.push({ result, bytes });
    this.queuedBytes += bytes;
    const unsent = this.unsentBytes();
    if (unsent > 2 * this.options.batchUnsentBytesMax) return this.overflow(unsent);
    // While a write is in progress, what completes waits for it (flushed() sends it).
    if (this.writing === undefined && this.queuedBytes >= this.options.batchResponseBytesMax) {
      this.flush();
    } else if (this.writing === undefined && !this.flushScheduled) {
      this.flushScheduled = true;
      // After this turn's I/O and promise callbacks: everything finished meanwhile goes together.
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
    this.updateReading();
  }

  /** Hands the transport one BatchResponse of the queued results (about batchResponseBytesMax at most). */
  private flush(): void {
    if (this.closed || this.writing !== undefined || this.queued.length === 0) return;
    let count = 0;
    let bytes = 0;
    while (count < this.queued.length && (count === 0 || bytes + this.queued[count]!.bytes <= this.options.batchResponseBytesMax)) {
      bytes += this.queued[count]!.bytes;
      count++;
    }
    const results = this.queued.splice(0, count).map((unsent) => unsent.result);
    this.queuedBytes -= bytes;
    this.writing = { items: count, bytes };
    this.call.write({ results }, () => this.flushed());
  }

  private flushed(): void {
    const written = this.writing;
    if (written === undefined) throw new Error('batch stream: a write completed with no write in progress');
    this.writing = undefined;
    this.unflushedItems -= written.items;
    if (this.unflushedItems < 0) throw new Error(`batch stream flushed more results than items: ${this.unflushedItems}`);
    this.flush(); // results that waited for this write
    this.updateReading();
    this.endIfDone();
  }

  /** Write results pile up for a client that does not read them: end the stream rather than hold them. */
  private overflow(unsentBytes: number): void {
    const limit = this.options.batchUnsentBytesMax;
    this.logger.warn({ unsentBytes, batchUnsentBytesMax: limit }, 'batch stream ended: its client does not read its results');
    this.fail(
      new ApiError(
        status.RESOURCE_EXHAUSTED,
        `${unsentBytes} bytes of results wait for this client to read them, more than twice batchUnsentBytesMax (${limit}): ` +
          'read the stream as results come, or send fewer writes at once',
      ),
    );
  }

  private endIfDone(): void {
    if (this.closed || !this.inputEnded || this.unflushedItems > 0) return;
    if (this.writing !== undefined || this.queued.length > 0) throw new Error('batch stream: no item unflushed but results unsent');
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
    this.queuedBytes = 0;
  }
}
