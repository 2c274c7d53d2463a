/**
 * The outbound side of one peer: a bounded queue of encoded messages, one long-lived `Stream`
 * call opened lazily (handshake, then frames, reconnect with backoff), and snapshot transfers
 * on a separate connection.
 *
 *   idle ──enqueue──▶ connecting ──ack──▶ open ──error/end──▶ backoff ──delay──▶ idle
 *                          └────error/handshake timeout──────────▲
 *
 * While connecting, messages wait in the queue; while in backoff they are dropped and the
 * peer is reported unreachable (the leader then probes instead of streaming appends into a
 * void). A lost stream also loses its queue: Raft re-sends what matters.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { crc32 } from 'node:zlib';
import type { Message, NodeId } from '../raft/index.js';
import type { SnapshotInfo, SnapshotStore } from '../storage/index.js';
import { Backoff } from './backoff.js';
import { CodecError, encodeMessage } from './codec.js';
import { FRAME_ITEM_OVERHEAD_BYTES, FRAME_OVERHEAD_BYTES, type ResolvedTransportOptions } from './options.js';
import {
  METADATA_CLUSTER_ID,
  METADATA_FROM_NODE,
  METADATA_SHARED_SETTINGS,
  METADATA_TO_NODE,
  raftServiceDefinition,
  type RaftFrame,
  type RaftFrameAck,
  type SnapshotAck,
  type SnapshotChunk,
  type SnapshotResumeReply,
  type SnapshotResumeRequest,
} from './proto.js';
import { METADATA_CLUSTER_SECRET, peerChannelCredentials, type PeerSecurity } from './security.js';
import { Counters } from './stats.js';

/** Snapshot chunks written to the call and not yet handed to HTTP/2, at most. */
const SNAPSHOT_CHUNKS_IN_FLIGHT = 2;

export type PeerLinkState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';
export type EnqueueResult = 'queued' | 'dropped' | 'blackholed';

/** What a link tells the transport; called from IO callbacks, never from inside send(). */
export interface PeerLinkEvents {
  unreachable(peer: NodeId): void;
  snapshotStatus(peer: NodeId, ok: boolean): void;
}

export class PeerLink {
  readonly counters = new Counters();
  partitioned = false;
  private state: PeerLinkState = 'idle';
  private client: grpc.Client | undefined;
  private call: grpc.ClientDuplexStream<RaftFrame, RaftFrameAck> | undefined;
  private callFramesSent = 0;
  private writable = true;
  private queue: Uint8Array[] = [];
  private queueBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private snapshotTransfer: SnapshotTransfer | undefined;
  private snapshotClient: grpc.Client | undefined;
  private lastFailure = '';
  private readonly log: Logger;

  constructor(
    readonly id: NodeId,
    readonly address: string,
    private readonly options: ResolvedTransportOptions,
    private readonly totals: Counters,
    private readonly events: PeerLinkEvents,
    /** Read when a channel is created (GrpcTransport.useSecurity may set it before the first). */
    private readonly security: () => PeerSecurity = () => ({}),
    /** Where the snapshots sent are read from (GrpcTransport.useSnapshots). */
    private readonly snapshots: () => SnapshotStore | undefined = () => undefined,
  ) {
    this.backoff = new Backoff({
      initialMs: options.reconnectBackoffInitialMs,
      maxMs: options.reconnectBackoffMaxMs,
      jitterRatio: options.reconnectJitterRatio,
    });
    this.log = options.logger.child({ peer: id, peerAddress: address });
  }

  get linkState(): PeerLinkState {
    return this.state;
  }

  get queuedMessages(): number {
    return this.queue.length;
  }

  get queuedBytes(): number {
    return this.queueBytes;
  }

  /** Queues one encoded message; never blocks. 'dropped' means: report the peer unreachable. */
  enqueue(bytes: Uint8Array): EnqueueResult {
    if (this.state === 'closed') return 'blackholed';
    if (this.partitioned) {
      this.count('messagesDropped', 1);
      return 'blackholed';
    }
    if (
      this.state === 'backoff' ||
      this.queue.length >= this.options.sendQueueMessagesMax ||
      this.queueBytes + bytes.length > this.options.sendQueueBytesMax
    ) {
      this.count('messagesDropped', 1);
      return 'dropped';
    }
    this.queue.push(bytes);
    this.queueBytes += bytes.length;
    if (this.state === 'idle') this.connect();
    return 'queued';
  }

  /** Writes the queue as frames while the stream is open and not backpressured. */
  flush(): void {
    const call = this.call;
    if (this.state !== 'open' || !this.writable || call === undefined) return;
    const frameBytesMax = this.options.messageBytesMax - FRAME_OVERHEAD_BYTES;
    // Bounded: every pass takes at least one message off the queue.
    while (this.queue.length > 0) {
      let frameBytes = 0;
      let count = 0;
      for (const bytes of this.queue) {
        const itemBytes = bytes.length + FRAME_ITEM_OVERHEAD_BYTES;
        if (count > 0 && frameBytes + itemBytes > frameBytesMax) break;
        frameBytes += itemBytes;
        count++;
      }
      const messages = this.queue.splice(0, count);
      const bytesInFrame = messages.reduce((sum, m) => sum + m.length, 0);
      this.queueBytes -= bytesInFrame;
      const first = this.callFramesSent === 0;
      this.callFramesSent++;
      const frame: RaftFrame = {
        clusterId: first ? this.options.clusterId : '',
        from: this.options.nodeId,
        to: this.id,
        messages,
      };
      this.count('framesSent', 1);
      this.count('messagesSent', count);
      this.count('bytesSent', bytesInFrame);
      if (!call.write(frame)) {
        this.writable = false;
        call.once('drain', () => {
          if (call !== this.call) return;
          this.writable = true;
          this.flush();
        });
        return;
      }
    }
    if (this.queueBytes !== 0) throw new Error(`peer ${this.id}: empty queue holds ${this.queueBytes} bytes`);
  }

  /**
   * Starts one snapshot transfer; at most one per peer is in flight. The data sent is the stored
   * snapshot (its meta replaces the message's, which it is at least as new as), read from the
   * snapshot store in chunks: whatever data the message carries is ignored.
   */
  sendSnapshot(message: Message): void {
    if (this.state === 'closed') return;
    const refuse = (why: string): void => {
      this.count('snapshotsFailed', 1);
      this.log.warn({ why }, 'snapshot to peer not sent');
      // Asynchronously: send() must not call back into the runtime.
      setImmediate(() => this.state !== 'closed' && this.events.snapshotStatus(this.id, false));
    };
    if (this.partitioned) return refuse('partitioned by the fault hook');
    if (this.snapshotTransfer !== undefined) return refuse('a snapshot to this peer is already in flight');
    if (message.snapshot === undefined) return refuse('snapshot message without a snapshot');
    const store = this.snapshots();
    if (store === undefined) return refuse('no snapshot store: the transport cannot read snapshots');
    const transfer: SnapshotTransfer = { call: undefined, done: false, wake: undefined };
    this.snapshotTransfer = transfer;
    this.runSnapshot(transfer, message, store).catch((error: unknown) => this.endSnapshot(transfer, false, describeError(error), 0));
  }

  /** Closes the stream, any snapshot transfer and the channels. Idempotent. */  /** Closes the stream, any snapshot transfer and the channels. Idempotent. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.call?.cancel();
    this.call = undefined;
    const transfer = this.snapshotTransfer;
    this.snapshotTransfer = undefined;
    if (transfer !== undefined) {
      transfer.done = true;
      transfer.call?.cancel();
      transfer.wake?.();
    }
    this.client?.close();
    this.client = undefined;
    this.snapshotClient?.close();
    this.snapshotClient = undefined;
    this.queue = [];
    this.queueBytes = 0;
  }

  private count(field: Parameters<Counters['add']>[0], n: number): void {
    this.counters.add(field, n);
    this.totals.add(field, n);
  }

  private channelOptions(): grpc.ChannelOptions {
    return {
      'grpc.max_send_message_length': this.options.messageBytesMax,
      'grpc.max_receive_message_length': this.options.messageBytesMax,
      'grpc.initial_reconnect_backoff_ms': this.options.reconnectBackoffInitialMs,
      'grpc.max_reconnect_backoff_ms': this.options.reconnectBackoffMaxMs,
      'grpc.keepalive_time_ms': this.options.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': this.options.keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
      // Our own connection per transport (tests run several in one process) and no transparent
      // retries: a retried stream would buffer frames that Raft would rather see dropped.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.enable_retries': 0,
    };
  }

  private credentials(): grpc.ChannelCredentials {
    const tls = this.security().tls;
    return tls === undefined ? grpc.credentials.createInsecure() : peerChannelCredentials(tls, this.id);
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    const secret = this.security().clusterSecret;
    if (secret !== undefined) metadata.set(METADATA_CLUSTER_SECRET, secret);
    metadata.set(METADATA_CLUSTER_ID, this.options.clusterId);
    metadata.set(METADATA_FROM_NODE, String(this.options.nodeId));
    metadata.set(METADATA_TO_NODE, String(this.id));
    metadata.set(METADATA_SHARED_SETTINGS, this.options.sharedSettings);
    return metadata;
  }

  private connect(): void {
    if (this.state !== 'idle') throw new Error(`peer ${this.id}: connect() in state ${this.state}`);
    this.client ??= new grpc.Client(this.address, this.credentials(), this.channelOptions());
    const method = raftServiceDefinition().Stream;
    const call = this.client.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      this.metadata(),
    );
    this.call = call;
    this.callFramesSent = 0;
    this.writable = true;
    this.state = 'connecting';
    this.timer = setTimeout(() => this.fail(call, 'no handshake within handshakeTimeoutMs'), this.options.handshakeTimeoutMs);
    call.on('data', (ack: RaftFrameAck) => this.onAck(call, ack));
    call.on('error', (error: grpc.ServiceError) => this.fail(call, describe(error), error.code));
    call.on('status', (status: grpc.StatusObject) => {
      if (status.code === grpc.status.OK) this.fail(call, 'the peer ended the stream');
    });
  }

  private onAck(call: grpc.ClientDuplexStream<RaftFrame, RaftFrameAck>, ack: RaftFrameAck): void {
    if (call !== this.call || this.state !== 'connecting') return; // later acks: reserved, ignored
    if (ack.nodeId !== this.id || ack.clusterId !== this.options.clusterId) {
      const why = `handshake answered by node ${ack.nodeId} of cluster '${ack.clusterId}', expected node ${this.id} of '${this.options.clusterId}'`;
      this.fail(call, why, grpc.status.FAILED_PRECONDITION);
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.state = 'open';
    this.backoff.reset();
    this.count('connects', 1);
    if (this.lastFailure !== '') this.log.info('peer stream re-established');
    else this.log.debug('peer stream open');
    this.lastFailure = '';
    this.flush();
  }

  /**
   * The peer just opened a stream to us, so it is up again (a restart): a reconnect waiting out
   * its backoff (up to reconnectBackoffMaxMs) starts over at once, on a fresh channel (the old
   * one has a reconnect backoff of its own).
   */
  peerIsBack(): void {
    if (this.state !== 'backoff') return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.backoff.reset();
    this.client?.close();
    this.client = undefined;
    this.state = 'idle';
    this.log.debug('peer opened a stream to us: reconnecting without waiting for the backoff');
  }

  private fail(call: grpc.ClientDuplexStream<RaftFrame, RaftFrameAck>, why: string, code?: grpc.status): void {
    if (call !== this.call || this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.call = undefined;
    call.cancel();
    clearTimeout(this.timer);
    this.count('messagesDropped', this.queue.length);
    this.queue = [];
    this.queueBytes = 0;
    this.count('failures', 1);
    const delayMs = this.backoff.nextDelayMs();
    this.logFailure(why, code, wasOpen, delayMs);
    this.state = 'backoff';
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state === 'backoff') this.state = 'idle';
    }, delayMs);
    this.events.unreachable(this.id);
  }

  /** A repeated failure is logged at debug: a dead peer must not flood the log. */
  private logFailure(why: string, code: grpc.status | undefined, wasOpen: boolean, delayMs: number): void {
    const fields = { why, code: code === undefined ? undefined : grpc.status[code], retryInMs: delayMs };
    if (code === grpc.status.FAILED_PRECONDITION && why !== this.lastFailure) {
      this.log.error(fields, 'peer refused our stream: fix the cluster configuration');
    } else if (wasOpen || why !== this.lastFailure) {
      this.log.warn(fields, wasOpen ? 'peer stream lost' : 'cannot open peer stream');
    } else {
      this.log.debug(fields, 'cannot open peer stream');
    }
    this.lastFailure = why;
  }

  /**
   * Reads the stored snapshot chunk by chunk and writes each one on the call as it is read (each
   * with its CRC-32 and offset, the first with the header and the SHA-256 of the whole data),
   * waiting for the call to drain: at most a chunk or two are in memory. A read that fails (the
   * file replaced, or corrupt: its digest is checked before the last chunk goes out) cancels
   * the call, so the receiver never delivers it.
   */
  private async runSnapshot(transfer: SnapshotTransfer, message: Message, store: SnapshotStore): Promise<void> {
    const requested = message.snapshot!.meta;
    const info = await store.latestInfo();
    if (transfer.done) return;
    if (info === undefined || info.meta.index < requested.index) {
      return this.endSnapshot(transfer, false, `snapshot ${requested.index} is not stored yet (stored: ${info?.meta.index ?? 'none'})`, 0);
    }
    const headerBytes = this.options.messageBytesMax - FRAME_OVERHEAD_BYTES - this.options.snapshotChunkBytes;
    let header: Uint8Array;
    try {
      header = encodeMessage({ ...message, snapshot: { meta: info.meta, data: new Uint8Array(0) } }, headerBytes);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      return this.endSnapshot(transfer, false, error.message, info.bytes);
    }
    // Its own connection: a large transfer must not sit in front of heartbeats.
    this.snapshotClient ??= new grpc.Client(this.address, this.credentials(), this.channelOptions());
    // Where to start: what an earlier transfer of this snapshot that broke off left at the peer.
    const resumeAt = await this.snapshotResumeOffset(this.snapshotClient, info);
    if (transfer.done || this.snapshotClient === undefined) return;
    const method = raftServiceDefinition().InstallSnapshot;
    const call = this.snapshotClient.makeClientStreamRequest<SnapshotChunk, SnapshotAck>(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      this.metadata(),
      { deadline: Date.now() + this.options.snapshotTimeoutMs },
      (error, ack) => this.onSnapshotDone(transfer, info, error, ack),
    );
    transfer.call = call;
    this.log.info({ totalBytes: info.bytes, index: info.meta.index, term: info.meta.term, resumeAt }, resumeAt > 0 ? 'resuming snapshot transfer' : 'sending snapshot');
    let offset = resumeAt;
    let first = true;
    // Chunks handed to the call and not yet taken by HTTP/2: at most SNAPSHOT_CHUNKS_IN_FLIGHT
    // (the call's own buffer would take 16 before write() says to wait, each in several copies).
    const inFlight: Promise<void>[] = [];
    const write = async (data: Uint8Array): Promise<void> => {
      const chunk: SnapshotChunk = {
        clusterId: first ? this.options.clusterId : '',
        from: first ? this.options.nodeId : 0,
        to: first ? this.id : 0,
        message: first ? header : new Uint8Array(0),
        totalBytes: first ? info.bytes : 0,
        dataDigest: first ? info.digest : new Uint8Array(0),
        data,
        dataCrc32: crc32(data),
        offset,
      };
      first = false;
      offset += data.length;
      inFlight.push(
        new Promise<void>((resolve) => {
          transfer.wake = resolve;
          call.write(chunk, () => resolve());
        }),
      );
      while (inFlight.length > SNAPSHOT_CHUNKS_IN_FLIGHT && !transfer.done) await inFlight.shift();
      transfer.wake = undefined;
    };
    try {
      for await (const data of store.readChunks(info, this.options.snapshotChunkBytes, resumeAt)) {
        if (transfer.done) return;
        await write(data);
      }
      if (transfer.done) return;
      if (first) await write(new Uint8Array(0)); // no data to send: the header alone
      call.end();
    } catch (error) {
      if (transfer.done) return;
      this.log.error({ err: error, index: info.meta.index }, 'reading the stored snapshot to send it failed');
      this.endSnapshot(transfer, false, describeError(error), info.bytes);
    }
  }

  /** The peer's answer to SnapshotResume for `info`; 0 on any error (an older peer, a timeout). */
  private snapshotResumeOffset(client: grpc.Client, info: SnapshotInfo): Promise<number> {
    const method = raftServiceDefinition().SnapshotResume;
    const request: SnapshotResumeRequest = { index: info.meta.index, term: info.meta.term, dataDigest: info.digest, totalBytes: info.bytes };
    return new Promise((resolve) => {
      client.makeUnaryRequest<SnapshotResumeRequest, SnapshotResumeReply>(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        this.metadata(),
        { deadline: Date.now() + this.options.handshakeTimeoutMs },
        (error, reply) => {
          if (error !== null || reply === undefined) {
            this.log.debug({ why: error ? describe(error) : 'no reply' }, 'snapshot resume offset unknown: sending from the start');
            return resolve(0);
          }
          const offset = Number(reply.offset);
          resolve(Number.isSafeInteger(offset) && offset > 0 && offset <= info.bytes ? offset : 0);
        },
      );
    });
  }

  private onSnapshotDone(transfer: SnapshotTransfer, info: SnapshotInfo, error: grpc.ServiceError | null, ack: SnapshotAck | undefined): void {
    const ok = error === null && ack?.bytesReceived === info.bytes;
    const why = ok ? '' : error !== null ? describe(error) : `peer acknowledged ${ack?.bytesReceived} of ${info.bytes} bytes`;
    this.endSnapshot(transfer, ok, why, info.bytes);
  }

  /** Ends a transfer once: its call cancelled unless it succeeded, its connection closed, the status told. */
  private endSnapshot(transfer: SnapshotTransfer, ok: boolean, why: string, totalBytes: number): void {
    if (transfer.done) return;
    transfer.done = true;
    transfer.wake?.();
    if (!ok) transfer.call?.cancel();
    if (this.snapshotTransfer !== transfer || this.state === 'closed') return;
    this.snapshotTransfer = undefined;
    // A snapshot is rare: do not keep its connection open.
    this.snapshotClient?.close();
    this.snapshotClient = undefined;
    if (ok) {
      this.count('snapshotsSent', 1);
      this.log.info({ totalBytes }, 'snapshot delivered');
    } else {
      this.count('snapshotsFailed', 1);
      this.log.warn({ why, totalBytes }, 'snapshot transfer failed');
    }
    this.events.snapshotStatus(this.id, ok);
  }
}

/** One snapshot transfer to the peer; `done` once it ended (whichever way), `wake` ends a drain wait. */
interface SnapshotTransfer {
  call: grpc.ClientWritableStream<SnapshotChunk> | undefined;
  done: boolean;
  wake: (() => void) | undefined;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describe(error: grpc.ServiceError): string {
  return `${grpc.status[error.code] ?? error.code}: ${error.details || error.message}`;
}
