/**
 * One server address: its channel, unary calls, and the Batch stream that multiplexes every
 * call of this client to that server. Calls made in one event-loop turn leave in one
 * BatchRequest; results are matched back by id.
 */
import * as grpc from '@grpc/grpc-js';
import {
  CancelledError,
  DeadlineExceededError,
  ResourceExhaustedError,
  SessionRaftError,
  UnavailableError,
  errorFromStatus,
  type LeaderHint,
} from './errors.js';
import { backupMessages, type BackupMessage } from './backup.js';
import { serviceClients } from './proto.js';
import type { WatchStream, WireWatchRequest } from './watch.js';
import type { BatchRequest, BatchResponse__Output, SessionServiceClient, AdminServiceClient } from '../proto/index.js';
import {
  METHOD_NAMES,
  type AdminMethod,
  type AdminRequests,
  type AdminResponses,
  type NodeStatus,
  type Operation,
  type WireBatchItem,
  type WireBatchResult,
  type WireRequest,
  type WireRequests,
  type WireResponse,
  type WireResponses,
} from './types.js';

export const LEADER_ID_METADATA_KEY = 'x-leader-id';
export const LEADER_ADDRESS_METADATA_KEY = 'x-leader-address';

export interface EndpointLimits {
  /** Calls waiting for an answer on one endpoint's stream. */
  readonly pendingCallsMax: number;
  /** A BatchRequest is cut once its items reach about this many bytes. */
  readonly batchRequestBytesMax: number;
  readonly messageBytesMax: number;
}

/** A unary method of a client made by proto-loader, looked up by name (its overloads do not index). */
type UnaryMethod<Req, Res> = (
  request: Req,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;
type BatchStreamCall = grpc.ClientDuplexStream<BatchRequest, BatchResponse__Output>;

interface PendingCall {
  readonly operation: Operation;
  readonly resolve: (response: WireResponse) => void;
  readonly reject: (error: SessionRaftError) => void;
  readonly timer: NodeJS.Timeout;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  /** The stream the item went out on; undefined while queued. */
  stream: BatchStreamCall | undefined;
}

const ITEM_FIXED_BYTES = 64;

function itemBytes(request: WireRequest): number {
  return ITEM_FIXED_BYTES + ('dataJson' in request && typeof request.dataJson === 'string' ? request.dataJson.length : 0);
}

/** A queued item: its id (the generated BatchItem's id may be any 64-bit form) and size. */
interface QueuedItem {
  readonly id: number;
  readonly item: WireBatchItem;
  readonly bytes: number;
}

function leaderFromMetadata(metadata: grpc.Metadata | undefined): LeaderHint | undefined {
  const id = metadata?.get(LEADER_ID_METADATA_KEY)[0];
  if (id === undefined) return undefined;
  const address = metadata?.get(LEADER_ADDRESS_METADATA_KEY)[0];
  return { id: Number(id), address: typeof address === 'string' ? address : '' };
}

export function errorFromServiceError(error: grpc.ServiceError): SessionRaftError {
  const details = error.details || error.message;
  // Never reached the node: nothing was proposed, so the call may go elsewhere (see LeaderHint).
  const neverSent = error.code === grpc.status.UNAVAILABLE && details.includes('No connection established');
  return errorFromStatus(error.code, details, leaderFromMetadata(error.metadata) ?? (neverSent ? { id: 0, address: '' } : undefined));
}

export class Endpoint {
  private readonly sessionClient: SessionServiceClient;
  private readonly adminClient: AdminServiceClient;
  private stream: BatchStreamCall | undefined;
  private readonly pending = new Map<number, PendingCall>();
  private queue: QueuedItem[] = [];
  private flushScheduled = false;
  private nextId = 1;
  private closed = false;

  constructor(
    readonly address: string,
    credentials: grpc.ChannelCredentials,
    private readonly limits: EndpointLimits,
    /** Run on every call of this endpoint (the bearer token). */
    interceptors: readonly grpc.Interceptor[] = [],
  ) {
    const { session, admin } = serviceClients();
    this.sessionClient = new session(address, credentials, {
      'grpc.max_receive_message_length': limits.messageBytesMax,
      'grpc.max_send_message_length': limits.messageBytesMax,
      interceptors: [...interceptors],
    });
    this.adminClient = new admin(address, credentials, { channelOverride: this.sessionClient.getChannel(), interceptors: [...interceptors] });
  }

  /**
   * Resolves once the channel is connected; rejects after `deadlineMs` or when the endpoint is
   * closed. grpc-js's own Client.waitForReady is not used: closing its channel fires its state
   * watcher, which then watches again with a fresh timer that keeps the process alive until the
   * deadline. This loop stops watching once the endpoint is closed.
   */
  waitForReady(deadlineMs: number): Promise<void> {
    const channel = this.sessionClient.getChannel();
    const deadlineAtMs = Date.now() + deadlineMs;
    return new Promise((resolve, reject) => {
      const check = (error?: Error): void => {
        if (this.closed) return reject(new CancelledError(grpc.status.CANCELLED, 'the client was closed'));
        if (error) return reject(new UnavailableError(grpc.status.UNAVAILABLE, `${this.address} did not accept a connection within ${deadlineMs} ms`));
        const state = channel.getConnectivityState(true);
        if (state === grpc.connectivityState.READY) return resolve();
        channel.watchConnectivityState(state, deadlineAtMs, check);
      };
      check();
    });
  }

  unary<K extends Operation>(operation: K, request: WireRequests[K], deadlineMs: number, signal?: AbortSignal): Promise<WireResponses[K]> {
    const methods = this.sessionClient as unknown as Record<string, UnaryMethod<WireRequests[K], WireResponses[K]>>;
    const method = methods[METHOD_NAMES[operation]]!;
    return this.unaryCall(method.bind(this.sessionClient), request, deadlineMs, signal);
  }

  status(deadlineMs: number, signal?: AbortSignal): Promise<NodeStatus> {
    return this.admin('Status', {}, deadlineMs, signal);
  }

  /** One AdminService call by method name (Status, AddMember, ...). */
  admin<M extends AdminMethod>(method: M, request: AdminRequests[M], deadlineMs: number, signal?: AbortSignal): Promise<AdminResponses[M]> {
    const call = (this.adminClient as unknown as Partial<Record<M, UnaryMethod<AdminRequests[M], AdminResponses[M]>>>)[method];
    if (call === undefined) throw new RangeError(`AdminService has no method ${method}`);
    return this.unaryCall(call.bind(this.adminClient), request, deadlineMs, signal);
  }

  /** AdminService.Backup of this node (see backup.ts). */
  backup(signal?: AbortSignal): AsyncGenerator<BackupMessage> {
    return backupMessages(this.adminClient, errorFromServiceError, signal);
  }

  private unaryCall<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, deadlineMs: number, signal?: AbortSignal): Promise<Res> {
    if (signal?.aborted) return Promise.reject(new CancelledError(grpc.status.CANCELLED, 'the call was aborted'));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => call.cancel();
      const call = method(request, { deadline: Date.now() + deadlineMs }, (error, response) => {
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(errorFromServiceError(error));
        else resolve(response);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A Watch server stream from this endpoint. */
  watch(request: WireWatchRequest): WatchStream {
    if (this.closed) throw new CancelledError(grpc.status.CANCELLED, 'the client is closed');
    return this.sessionClient.Watch(request);
  }

  /** One operation over this endpoint's Batch stream. */
  call<K extends Operation>(operation: K, request: WireRequests[K], deadlineMs: number, signal?: AbortSignal): Promise<WireResponses[K]> {
    if (this.closed) return Promise.reject(new CancelledError(grpc.status.CANCELLED, 'the client is closed'));
    if (signal?.aborted) return Promise.reject(new CancelledError(grpc.status.CANCELLED, 'the call was aborted'));
    if (this.pending.size >= this.limits.pendingCallsMax) {
      return Promise.reject(
        new ResourceExhaustedError(grpc.status.RESOURCE_EXHAUSTED, `pendingCallsMax (${this.limits.pendingCallsMax}) calls already waiting on ${this.address}`),
      );
    }
    const id = this.nextId++;
    return new Promise<WireResponses[K]>((resolve, reject) => {
      const onAbort = (): void => this.settle(id, new CancelledError(grpc.status.CANCELLED, 'the call was aborted'));
      const timer = setTimeout(
        () => this.settle(id, new DeadlineExceededError(grpc.status.DEADLINE_EXCEEDED, `no answer from ${this.address} within ${deadlineMs} ms`)),
        deadlineMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      // onResult resolves with the result's `operation` member: the response type of K.
      this.pending.set(id, { operation, resolve: resolve as (response: WireResponse) => void, reject, timer, signal, onAbort, stream: undefined });
      const item: WireBatchItem = { id, timeoutMs: Math.max(1, Math.ceil(deadlineMs)), [operation]: request };
      this.queue.push({ id, item, bytes: itemBytes(request) });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Removes a pending call and settles it with `outcome`. */
  private settle(id: number, outcome: SessionRaftError | WireResponse): void {
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    entry.signal?.removeEventListener('abort', entry.onAbort);
    if (outcome instanceof SessionRaftError) entry.reject(outcome);
    else entry.resolve(outcome);
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.queue.length === 0) return;
    const stream = (this.stream ??= this.openStream());
    let items: WireBatchItem[] = [];
    let bytes = 0;
    for (const queued of this.queue) {
      const entry = this.pending.get(queued.id);
      if (entry === undefined) continue; // timed out or aborted while queued
      entry.stream = stream;
      if (items.length > 0 && bytes + queued.bytes > this.limits.batchRequestBytesMax) {
        stream.write({ items });
        items = [];
        bytes = 0;
      }
      items.push(queued.item);
      bytes += queued.bytes;
    }
    this.queue = [];
    if (items.length > 0) stream.write({ items });
  }

  private openStream(): BatchStreamCall {
    const stream = this.sessionClient.Batch();
    stream.on('data', (response: BatchResponse__Output) => {
      for (const result of response.results) this.onResult(result);
    });
    stream.on('error', (error: grpc.ServiceError) => this.onStreamEnd(stream, errorFromServiceError(error)));
    stream.on('end', () => this.onStreamEnd(stream, new UnavailableError(grpc.status.UNAVAILABLE, `the batch stream to ${this.address} ended`)));
    return stream;
  }

  private onResult(result: WireBatchResult): void {
    const entry = this.pending.get(result.id);
    if (entry === undefined) return; // timed out or aborted meanwhile
    const error = result.error;
    if (error) {
      const leader = error.notLeader ? { id: error.leaderId, address: error.leaderAddress } : undefined;
      this.settle(result.id, errorFromStatus(error.code, error.message, leader));
      return;
    }
    const response = result[entry.operation];
    if (response == null) {
      this.settle(result.id, errorFromStatus(grpc.status.INTERNAL, `result ${result.id} carries no ${entry.operation} response`));
      return;
    }
    this.settle(result.id, response);
  }

  /** Calls sent on a stream that broke have no answer: they fail UNAVAILABLE (the caller decides on retries). */
  private onStreamEnd(stream: BatchStreamCall, error: SessionRaftError): void {
    if (this.stream === stream) this.stream = undefined;
    // grpc-js says "No connection established" when the stream never reached the node: nothing
    // was sent, so (like a follower's refusal) the call is safe to retry elsewhere.
    const neverSent = error.message.includes('No connection established');
    const failure =
      error instanceof UnavailableError || error.code === grpc.status.CANCELLED
        ? new UnavailableError(
            grpc.status.UNAVAILABLE,
            `batch stream to ${this.address} failed: ${error.message}`,
            neverSent ? { id: 0, address: '' } : undefined,
          )
        : error;
    for (const [id, entry] of this.pending) {
      if (entry.stream === stream) this.settle(id, failure);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.pending.keys()]) this.settle(id, new CancelledError(grpc.status.CANCELLED, 'the client was closed'));
    this.stream?.cancel();
    this.stream = undefined;
    this.sessionClient.close();
    this.adminClient.close();
  }
}
