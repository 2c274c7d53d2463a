/**
 * SessionClient: a small typed client of a sessionraft cluster.
 *
 * Every call goes to the current endpoint (at first the first one given). A follower answers a
 * write with UNAVAILABLE and the leader's address (x-leader-address); the client then switches
 * to that address and retries at once. Without a known leader, or when a node is unreachable,
 * it tries the next endpoint after a growing pause. The call's deadline bounds the retries
 * (retriesMax, 20 by default, only caps them): an election after a leader died takes a second or
 * two, and a budget counted in retries alone ran out before it (5 jittered pauses are 0.8-1.6 s).
 *
 * Every write carries a request id (the caller's, or this client's random id and the next seq),
 * so a retry after an unknown outcome is applied once. The client remembers the highest index of
 * its answered writes and sends it as min_index on reads that name none: read your writes, on
 * any node and after ASYNC writes too.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { retryPauseMs } from './backoff.js';
import { Endpoint } from './endpoint.js';
import type { BackupMessage } from './backup.js';
import { CancelledError, DeadlineExceededError, InternalError, SessionRaftError, UnavailableError, errorFromStatus } from './errors.js';
import { durabilityFromWire, readFields, sessionFromWire, writeFields } from './mapping.js';
import { SessionWatch, type WatchOptions } from './watch.js';
import {
  WRITE_OPERATIONS,
  type CallOptions,
  type CountResult,
  type CreateInput,
  type DeleteResult,
  type GetResult,
  type ListInput,
  type ListResult,
  type MemberChangeResult,
  type MemberStatus,
  type NodeStatus,
  type Operation,
  type ReadCallOptions,
  type RequestId,
  type Session,
  type SessionWriteResult,
  type CreateResult,
  type AdminMethod,
  type AdminRequests,
  type AdminResponses,
  type UpdateInput,
  type WireReadFields,
  type WireRequests,
  type WireResponses,
  type WireSession,
  type WireWriteFields,
  type WriteCallOptions,
} from './types.js';

export interface ConnectOptions {
  /** host:port of one or more nodes, e.g. ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003']. */
  readonly endpoints: readonly string[];
  /** 'stream': every call multiplexed over one Batch stream per node; 'unary': one gRPC call per operation. @default 'stream' */
  readonly mode?: 'stream' | 'unary';
  /** Deadline of a call that brings none, retries included. @default 10_000 */
  readonly deadlineMsDefault?: number;
  /** Redirects and retries of one call, all within its deadline (which is what bounds them by default). @default 20 */
  readonly retriesMax?: number;
  /** First pause before retrying elsewhere when no leader is known; doubles up to retryBackoffMsMax. @default 50 */
  readonly retryBackoffMs?: number;
  /** @default 1_000 */
  readonly retryBackoffMsMax?: number;
  /** Calls waiting for an answer per node; beyond it a call fails ResourceExhaustedError at once. @default 4096 */
  readonly pendingCallsMax?: number;
  /** A BatchRequest is cut once its items reach about this many bytes. @default 1 MiB */
  readonly batchRequestBytesMax?: number;
  /** gRPC send/receive message limit. @default 8 MiB */
  readonly messageBytesMax?: number;
  /** connect() waits this long for any endpoint to accept a connection. @default 5_000 */
  readonly connectTimeoutMs?: number;
  /** Channel credentials as grpc-js takes them; `tls` is the shorter way. @default insecure (or from `tls`) */
  readonly credentials?: grpc.ChannelCredentials;
  /**
   * TLS to the nodes (started with --tls-cert/--tls-key/--tls-ca): `ca` is the cluster CA (PEM)
   * the nodes' certificates must chain to; `cert` + `key` a client certificate, optional unless
   * the cluster wants one. The address dialled must be in the node certificate's names.
   */
  readonly tls?: TlsOptions;
  /** Bearer token for nodes started with --client-token-file; sent on every call and stream. */
  readonly token?: string;
}

export interface TlsOptions {
  /** PEM of the CA that signed the nodes' certificates. @default the system's roots */
  readonly ca?: string | Buffer;
  /** PEM client certificate (chain); with `key`. */
  readonly cert?: string | Buffer;
  /** PEM private key of `cert`. */
  readonly key?: string | Buffer;
}

type ResolvedOptions = Required<Omit<ConnectOptions, 'credentials' | 'endpoints' | 'tls' | 'token'>> & {
  readonly credentials: grpc.ChannelCredentials;
  readonly endpoints: readonly string[];
  readonly interceptors: readonly grpc.Interceptor[];
};

const pem = (value: string | Buffer | undefined): Buffer | null =>
  value === undefined ? null : Buffer.isBuffer(value) ? value : Buffer.from(value);

function channelCredentials(options: ConnectOptions): grpc.ChannelCredentials {
  const tls = options.tls;
  if (options.credentials !== undefined) {
    if (tls !== undefined) throw new RangeError('give either credentials or tls, not both');
    return options.credentials;
  }
  if (tls === undefined) return grpc.credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new RangeError('tls.cert and tls.key go together');
  return grpc.credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
}

/** Adds `authorization: Bearer <token>` to every call (also over plaintext, where call credentials are refused). */
function tokenInterceptor(token: string): grpc.Interceptor {
  if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) throw new RangeError('token must be printable ASCII without spaces');
  const value = `Bearer ${token}`;
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        metadata.set('authorization', value);
        next(metadata, listener);
      },
    });
}

const ENDPOINTS_MAX = 64;
const MiB = 1024 * 1024;

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function resolveOptions(options: ConnectOptions): ResolvedOptions {
  if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
    throw new RangeError('endpoints must list at least one host:port');
  }
  for (const endpoint of options.endpoints) {
    if (typeof endpoint !== 'string' || !/^[^\s]+:\d{1,5}$/.test(endpoint)) throw new RangeError(`endpoint must be host:port, got '${String(endpoint)}'`);
  }
  const mode = options.mode ?? 'stream';
  if (mode !== 'stream' && mode !== 'unary') throw new RangeError(`mode must be 'stream' or 'unary', got '${String(mode)}'`);
  const retriesMax = options.retriesMax ?? 20;
  if (!Number.isSafeInteger(retriesMax) || retriesMax < 0) throw new RangeError(`retriesMax must be an integer >= 0, got ${retriesMax}`);
  return Object.freeze({
    endpoints: Object.freeze([...new Set(options.endpoints)].slice(0, ENDPOINTS_MAX)),
    mode,
    deadlineMsDefault: positiveInteger('deadlineMsDefault', options.deadlineMsDefault ?? 10_000),
    retriesMax,
    retryBackoffMs: positiveInteger('retryBackoffMs', options.retryBackoffMs ?? 50),
    retryBackoffMsMax: positiveInteger('retryBackoffMsMax', options.retryBackoffMsMax ?? 1_000),
    pendingCallsMax: positiveInteger('pendingCallsMax', options.pendingCallsMax ?? 4096),
    batchRequestBytesMax: positiveInteger('batchRequestBytesMax', options.batchRequestBytesMax ?? MiB),
    messageBytesMax: positiveInteger('messageBytesMax', options.messageBytesMax ?? 8 * MiB),
    connectTimeoutMs: positiveInteger('connectTimeoutMs', options.connectTimeoutMs ?? 5_000),
    credentials: channelCredentials(options),
    interceptors: Object.freeze(options.token === undefined ? [] : [tokenInterceptor(options.token)]),
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new CancelledError(grpc.status.CANCELLED, 'the call was aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The last attempt's error, for a write an earlier attempt of which may have been applied: a
 * leader hint says "nothing was proposed", true of the last attempt only, so it is dropped.
 */
function withoutLeaderHint(error: unknown): unknown {
  if (!(error instanceof SessionRaftError) || error.leader === undefined) return error;
  return errorFromStatus(error.code, `${error.message} (an earlier attempt's outcome is unknown: it may have been applied)`, undefined, { cause: error });
}

function optionalSession(response: { session: WireSession | null }): Session | undefined {
  return response.session ? sessionFromWire(response.session) : undefined;
}

function requiredSession(response: { session: WireSession | null }, operation: Operation): Session {
  if (!response.session) throw new InternalError(grpc.status.INTERNAL, `${operation} answered without a session`);
  return sessionFromWire(response.session);
}

export class SessionClient {
  private readonly endpoints = new Map<string, Endpoint>();
  private current: Endpoint;
  /** The clientId of the request ids this client assigns: random, one per instance. */
  private readonly requestClientId = `sdk-${randomUUID()}`;
  private requestSeqLast = 0;
  /** The highest index among this client's answered writes: the default min_index of its reads. */
  private writtenIndexMax = 0;
  private readonly watches = new Set<SessionWatch>();

  private constructor(private readonly options: ResolvedOptions) {
    for (const address of options.endpoints) this.endpoint(address);
    this.current = this.endpoint(options.endpoints[0]!);
  }

  /** Creates a client and waits until any endpoint accepts a connection (UnavailableError if none does). */
  static async connect(options: ConnectOptions): Promise<SessionClient> {
    const client = new SessionClient(resolveOptions(options));
    try {
      const ready = await Promise.any(
        [...client.endpoints.values()].map((endpoint) => endpoint.waitForReady(client.options.connectTimeoutMs).then(() => endpoint)),
      );
      client.current = ready;
      return client;
    } catch {
      client.close();
      throw new UnavailableError(
        grpc.status.UNAVAILABLE,
        `no endpoint of ${client.options.endpoints.join(', ')} accepted a connection within ${client.options.connectTimeoutMs} ms`,
      );
    }
  }

  /** The address calls go to now (the leader, once a redirect taught it). */
  get currentEndpoint(): string {
    return this.current.address;
  }

  async create(input: CreateInput, options: WriteCallOptions = {}): Promise<CreateResult> {
    const request: WireRequests['create'] = {
      sessionId: input.sessionId ?? '',
      clientId: input.clientId,
      transport: input.transport,
      dataJson: input.data === undefined ? '' : JSON.stringify(input.data),
      ttlMs: input.ttlMs ?? 0,
      maxLifetimeMs: input.maxLifetimeMs ?? 0,
      ...this.writeFields(options),
    };
    const response = await this.invoke('create', request, options);
    return { session: requiredSession(response, 'create'), index: response.index, durability: durabilityFromWire(response.durability) };
  }

  async get(sessionId: string, options: ReadCallOptions = {}): Promise<GetResult> {
    const response = await this.invoke('get', { sessionId, ...this.readFields(options) }, options);
    return { session: requiredSession(response, 'get'), index: response.index };
  }

  /** Merges `input.data` into the session's data (null removes a key); optionally checks the version and sets a new TTL. */
  async update(sessionId: string, input: UpdateInput, options: WriteCallOptions = {}): Promise<SessionWriteResult> {
    const request: WireRequests['update'] = {
      sessionId,
      dataJson: input.data === undefined ? '' : JSON.stringify(input.data),
      expectedVersion: input.expectedVersion ?? 0,
      ttlMs: input.ttlMs ?? 0,
      ...this.writeFields(options),
    };
    const response = await this.invoke('update', request, options);
    return { session: optionalSession(response), index: response.index, durability: durabilityFromWire(response.durability) };
  }

  /** Marks activity: pushes the idle expiry out by the session's TTL. */
  async touch(sessionId: string, options: WriteCallOptions = {}): Promise<SessionWriteResult> {
    const response = await this.invoke('touch', { sessionId, ...this.writeFields(options) }, options);
    return { session: optionalSession(response), index: response.index, durability: durabilityFromWire(response.durability) };
  }

  async delete(sessionId: string, options: WriteCallOptions = {}): Promise<DeleteResult> {
    const response = await this.invoke('delete', { sessionId, ...this.writeFields(options) }, options);
    return { deleted: response.deleted, index: response.index, durability: durabilityFromWire(response.durability) };
  }

  async deleteByClient(clientId: string, options: WriteCallOptions = {}): Promise<DeleteResult> {
    const response = await this.invoke('deleteByClient', { clientId, ...this.writeFields(options) }, options);
    return { deleted: response.deleted, index: response.index, durability: durabilityFromWire(response.durability) };
  }

  /** One page of a client's sessions in session id order. */
  async list(clientId: string, input: ListInput = {}, options: ReadCallOptions = {}): Promise<ListResult> {
    const request: WireRequests['list'] = { clientId, pageSize: input.pageSize ?? 0, pageToken: input.pageToken ?? '', ...this.readFields(options) };
    const response = await this.invoke('list', request, options);
    return {
      sessions: response.sessions.map(sessionFromWire),
      nextPageToken: response.nextPageToken,
      index: response.index,
    };
  }

  /** Every session of a client, page by page (each page its own call with `options`). */
  async *listAll(clientId: string, input: Omit<ListInput, 'pageToken'> = {}, options: ReadCallOptions = {}): AsyncGenerator<Session> {
    let pageToken = '';
    do {
      const page = await this.list(clientId, { ...input, pageToken }, options);
      yield* page.sessions;
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
  }

  /** Live sessions, of one client or (clientId '') of all. */
  async count(clientId = '', options: ReadCallOptions = {}): Promise<CountResult> {
    const response = await this.invoke('count', { clientId, ...this.readFields(options) }, options);
    return { count: response.count, index: response.index };
  }

  /** AdminService.Status of one node (default: the current endpoint); no retries. */
  async status(address?: string, options: CallOptions = {}): Promise<NodeStatus> {
    const endpoint = address === undefined ? this.current : this.endpoint(address);
    return endpoint.status(options.deadlineMs ?? this.options.deadlineMsDefault, options.signal);
  }

  // ---- membership (AdminService, through the leader; see the README's "Membership")

  /** Adds node `id` reachable at `address` (host:port), as a learner unless `learner` is false. */
  addMember(id: number, address: string, input: { learner?: boolean } = {}, options: CallOptions = {}): Promise<MemberChangeResult> {
    return this.membership('AddMember', { id, address, learner: input.learner ?? true }, options);
  }

  removeMember(id: number, options: CallOptions = {}): Promise<MemberChangeResult> {
    return this.membership('RemoveMember', { id }, options);
  }

  /** Makes learner `id` a voter; FAILED_PRECONDITION while it is not caught up. */
  promoteMember(id: number, options: CallOptions = {}): Promise<MemberChangeResult> {
    return this.membership('PromoteMember', { id }, options);
  }

  /** Records that member `id` is now reached at `address`. */
  updateMember(id: number, address: string, options: CallOptions = {}): Promise<MemberChangeResult> {
    return this.membership('UpdateMember', { id, address }, options);
  }

  /** Hands leadership to voter `id`; resolves once it leads. */
  async transferLeadership(id: number, options: CallOptions = {}): Promise<{ leaderId: number }> {
    const response = await this.adminInvoke('TransferLeadership', { id }, options);
    return { leaderId: response.leaderId };
  }

  private async membership<M extends Exclude<AdminMethod, 'Status' | 'TransferLeadership'>>(
    method: M,
    request: AdminRequests[M],
    options: CallOptions,
  ): Promise<MemberChangeResult> {
    const response: AdminResponses[M] = await this.adminInvoke(method, request, options);
    const members: MemberStatus[] = response.members;
    return { index: response.index, clusterId: response.clusterId, members };
  }

  /**
   * An admin call that must reach the leader: follows NOT_LEADER hints (and tries the next
   * endpoint when a node is down), never retries a call that may have been applied without a hint.
   */
  private async adminInvoke<M extends AdminMethod>(method: M, request: AdminRequests[M], options: CallOptions): Promise<AdminResponses[M]> {
    const deadlineMs = options.deadlineMs ?? this.options.deadlineMsDefault;
    const deadlineAtMs = Date.now() + deadlineMs;
    let endpoint = this.current;
    for (let retries = 0; ; retries++) {
      const remainingMs = deadlineAtMs - Date.now();
      if (remainingMs <= 0) throw new DeadlineExceededError(grpc.status.DEADLINE_EXCEEDED, `${method} did not complete within ${deadlineMs} ms`);
      try {
        return await endpoint.admin(method, request, remainingMs, options.signal);
      } catch (error) {
        if (!(error instanceof UnavailableError) || retries >= this.options.retriesMax || options.signal?.aborted) throw error;
        endpoint = await this.nextAttemptEndpoint(endpoint, error, error.leader !== undefined, retries, deadlineAtMs, options.signal);
      }
    }
  }

  /**
   * The changes to sessions (of `clientId`, or all) from `fromIndex` on (default: from now), as
   * an AsyncIterable. It survives node failures: it resumes on another endpoint from the event
   * after the last one it received, with no gap and no duplicate. See SessionWatch.
   *
   * ```ts
   * for await (const event of client.watch({ clientId: 'user-42' })) console.log(event.type, event.session.sessionId, event.index);
   * ```
   */
  watch(options: WatchOptions = {}): SessionWatch {
    const watch = new SessionWatch(
      this.options.endpoints,
      this.current.address,
      (address, request) => this.endpoint(address).watch(request),
      options,
      this.options,
      (w) => this.watches.delete(w),
    );
    if (!watch.closed) this.watches.add(watch);
    return watch;
  }

  /**
   * AdminService.Backup of one node (default: the current endpoint): a consistent copy of its
   * state as a start message, pair batches and an end message. No retries; ending the iteration
   * early cancels it. `sessionraft backup` writes it to an encrypted file.
   */
  backup(address?: string, options: Pick<CallOptions, 'signal'> = {}): AsyncGenerator<BackupMessage> {
    const endpoint = address === undefined ? this.current : this.endpoint(address);
    return endpoint.backup(options.signal);
  }

  close(): void {
    for (const watch of [...this.watches]) watch.close();
    for (const endpoint of this.endpoints.values()) endpoint.close();
  }

  private writeFields(options: WriteCallOptions): WireWriteFields {
    const requestId: RequestId = options.requestId ?? { clientId: this.requestClientId, seq: ++this.requestSeqLast };
    return writeFields(options, requestId);
  }

  private readFields(options: ReadCallOptions): WireReadFields {
    return readFields(options, this.writtenIndexMax);
  }

  private endpoint(address: string): Endpoint {
    let endpoint = this.endpoints.get(address);
    if (endpoint === undefined) {
      if (this.endpoints.size >= ENDPOINTS_MAX) throw new RangeError(`more than ${ENDPOINTS_MAX} endpoints`);
      endpoint = new Endpoint(address, this.options.credentials, this.options, this.options.interceptors);
      this.endpoints.set(address, endpoint);
    }
    return endpoint;
  }

  private nextEndpoint(after: Endpoint): Endpoint {
    const all = [...this.endpoints.values()];
    return all[(all.indexOf(after) + 1) % all.length]!;
  }

  private attempt<K extends Operation>(
    endpoint: Endpoint,
    operation: K,
    request: WireRequests[K],
    remainingMs: number,
    signal?: AbortSignal,
  ): Promise<WireResponses[K]> {
    return this.options.mode === 'stream'
      ? endpoint.call(operation, request, remainingMs, signal)
      : endpoint.unary(operation, request, remainingMs, signal);
  }

  private async invoke<K extends Operation>(
    operation: K,
    request: WireRequests[K],
    options: WriteCallOptions & ReadCallOptions,
  ): Promise<WireResponses[K]> {
    const deadlineMs = options.deadlineMs ?? this.options.deadlineMsDefault;
    const deadlineAtMs = Date.now() + deadlineMs;
    const write = WRITE_OPERATIONS.has(operation);
    const retrySafe = !write || ('requestId' in request && request.requestId != null);
    /** An earlier attempt of this write failed without a leader hint: it may have been applied. */
    let outcomeUnknown = false;
    let endpoint = this.current;
    for (let retries = 0; ; retries++) {
      const remainingMs = deadlineAtMs - Date.now();
      if (remainingMs <= 0) throw new DeadlineExceededError(grpc.status.DEADLINE_EXCEEDED, `${operation} did not complete within ${deadlineMs} ms`);
      try {
        const response = await this.attempt(endpoint, operation, request, remainingMs, options.signal);
        if (write) this.writtenIndexMax = Math.max(this.writtenIndexMax, response.index);
        return response;
      } catch (error) {
        const failure = outcomeUnknown ? withoutLeaderHint(error) : error;
        if (!(error instanceof UnavailableError) || retries >= this.options.retriesMax || options.signal?.aborted) throw failure;
        if (write && error.leader === undefined) outcomeUnknown = true;
        endpoint = await this.nextAttemptEndpoint(endpoint, error, retrySafe, retries, deadlineAtMs, options.signal);
      }
    }
  }

  /** Where to retry after UNAVAILABLE: the named leader at once, otherwise the next endpoint after a pause. */
  private async nextAttemptEndpoint(
    endpoint: Endpoint,
    error: SessionRaftError,
    retrySafe: boolean,
    retries: number,
    deadlineAtMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Endpoint> {
    const leader = error.leader;
    if (leader === undefined && !retrySafe) throw error; // the write may have been applied
    if (leader !== undefined && leader.address !== '' && leader.address !== endpoint.address) {
      this.current = this.endpoint(leader.address);
      return this.current;
    }
    const pauseMs = Math.min(retryPauseMs(retries, this.options.retryBackoffMs, this.options.retryBackoffMsMax), Math.max(0, deadlineAtMs - Date.now()));
    await sleep(pauseMs, signal);
    this.current = this.nextEndpoint(endpoint);
    return this.current;
  }
}

/** SessionClient.connect(options). */
export function connect(options: ConnectOptions): Promise<SessionClient> {
  return SessionClient.connect(options);
}
