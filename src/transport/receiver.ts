/**
 * The inbound side: the RaftTransport service handlers. Every call is checked (cluster id,
 * addressed node) before anything is delivered; a bad frame ends its call with a status and a
 * log line, never an exception out of a handler.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { crc32 } from 'node:zlib';
import type { Message, NodeId } from '../raft/index.js';
import type { SnapshotStore, SnapshotWriter } from '../storage/index.js';
import { CodecError, decodeMessage } from './codec.js';
import { FRAME_OVERHEAD_BYTES, type ResolvedTransportOptions } from './options.js';
import {
  METADATA_CLUSTER_ID,
  METADATA_FROM_NODE,
  METADATA_SHARED_SETTINGS,
  METADATA_TO_NODE,
  type RaftFrame,
  type RaftFrameAck,
  type SnapshotAck,
  type SnapshotChunk,
  type SnapshotResumeReply,
  type SnapshotResumeRequest,
} from './proto.js';
import { checkPeerCall, type PeerSecurity } from './security.js';
import type { Counters } from './stats.js';

type Refusal = { readonly code: grpc.status; readonly details: string };
type StreamCall = grpc.ServerDuplexStream<RaftFrame, RaftFrameAck>;
type SnapshotCall = grpc.ServerReadableStream<SnapshotChunk, SnapshotAck>;
type ResumeCall = grpc.ServerUnaryCall<SnapshotResumeRequest, SnapshotResumeReply>;

/** Transfers that broke off, kept to be resumed, at most (the oldest is dropped first). */
const PARTIAL_SNAPSHOTS_MAX = 2;

/** The same refusal (same peer, same reason) is logged at warn once a minute, else at debug. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;
const REFUSAL_LOG_KEYS_MAX = 1024;

export class Receiver {
  private readonly streams = new Set<StreamCall>();
  /** The newest stream of each peer: a sender has one stream at a time, so older ones are dead. */
  private readonly streamByPeer = new Map<NodeId, StreamCall>();
  private readonly snapshots = new Map<SnapshotCall, (refusal: Refusal) => void>();
  private readonly refusalsLoggedAtMs = new Map<string, number>();
  /** Snapshot transfers that broke off, by partialKey: their writers, open, every byte verified. */
  private readonly partials = new Map<string, SnapshotWriter>();
  /** Frames and messages delivered from each peer (only peers whose calls passed the identity check). */
  private readonly receivedByPeer = new Map<NodeId, { frames: number; messages: number; snapshots: number }>();
  private closed = false;

  constructor(
    private readonly options: ResolvedTransportOptions,
    private readonly totals: Counters,
    private readonly deliver: (message: Message) => void,
    private readonly log: Logger,
    /** A peer opened a stream that passed the identity checks: it is up. */
    private readonly peerOpened: (peer: NodeId) => void = () => undefined,
    /** Who may call (cluster secret, client certificate); checked on every call before anything else. */
    private readonly security: () => PeerSecurity = () => ({}),
    /** Where received snapshots are written and staged (GrpcTransport.useSnapshots). */
    private readonly snapshotStore: () => SnapshotStore | undefined = () => undefined,
  ) {}

  get inboundStreams(): number {
    return this.streams.size;
  }

  get snapshotsReceiving(): number {
    return this.snapshots.size;
  }

  /** What `peer` delivered to this node so far (zeros if nothing). */
  receivedFrom(peer: NodeId): { readonly framesReceived: number; readonly messagesReceived: number; readonly snapshotsReceived: number } {
    const counts = this.receivedByPeer.get(peer);
    return { framesReceived: counts?.frames ?? 0, messagesReceived: counts?.messages ?? 0, snapshotsReceived: counts?.snapshots ?? 0 };
  }

  private countFrom(peer: NodeId): { frames: number; messages: number; snapshots: number } {
    let counts = this.receivedByPeer.get(peer);
    if (counts === undefined) {
      counts = { frames: 0, messages: 0, snapshots: 0 };
      this.receivedByPeer.set(peer, counts);
    }
    return counts;
  }

  /** Ends every inbound call with UNAVAILABLE and refuses new ones. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const refusal = { code: grpc.status.UNAVAILABLE, details: 'the peer transport of this node is closed' };
    for (const call of this.streams) call.emit('error', refusal);
    this.streams.clear();
    this.streamByPeer.clear();
    for (const finish of [...this.snapshots.values()]) finish(refusal);
    this.snapshots.clear();
    for (const writer of this.partials.values()) void writer.abort();
    this.partials.clear();
  }

  /** How much of a snapshot an earlier call from this sender left here (0: none). */
  readonly handleSnapshotResume = (call: ResumeCall, callback: grpc.sendUnaryData<SnapshotResumeReply>): void => {
    const opened = this.checkOpen(call, 0, 1, 'snapshot resume');
    if ('code' in opened) {
      this.refused(call, opened, metadataNodeId(call.metadata));
      callback(opened);
      return;
    }
    const request = call.request;
    const partial = this.partials.get(partialKey(opened.from, request.index, request.term, request.dataDigest, request.totalBytes));
    callback(null, { offset: partial?.bytes ?? 0 });
  };

  /** The writer kept for this transfer, taken out of the keep (undefined: none). */
  private takePartial(key: string): SnapshotWriter | undefined {
    const writer = this.partials.get(key);
    this.partials.delete(key);
    return writer;
  }

  /** Keeps the writer of a transfer that broke off, to be resumed; drops the oldest beyond the bound. */
  private keepPartial(key: string, writer: SnapshotWriter): void {
    if (this.closed) return void writer.abort();
    const old = this.partials.get(key);
    if (old !== undefined && old !== writer) void old.abort();
    this.partials.delete(key);
    this.partials.set(key, writer);
    for (const [other, dropped] of this.partials) {
      if (this.partials.size <= PARTIAL_SNAPSHOTS_MAX) break;
      this.partials.delete(other);
      void dropped.abort();
    }
  }

  readonly handleStream = (call: StreamCall): void => {
    const opened = this.checkOpen(call, this.streams.size, this.options.inboundStreamsMax, 'inboundStreamsMax');
    if ('code' in opened) {
      this.refused(call, opened, metadataNodeId(call.metadata));
      call.emit('error', opened);
      return;
    }
    const from = opened.from;
    this.supersede(from, call);
    this.streams.add(call);
    this.peerOpened(from);
    // The stream is live while it is in this.streams; every path out removes it.
    const forget = (): void => {
      this.streams.delete(call);
      if (this.streamByPeer.get(from) === call) this.streamByPeer.delete(from);
    };
    let frames = 0;
    call.write({ nodeId: this.options.nodeId, clusterId: this.options.clusterId });
    call.on('data', (frame: RaftFrame) => {
      if (!this.streams.has(call)) return;
      const decoded = this.readFrame(frame, frames === 0, from);
      frames++;
      if ('code' in decoded) {
        forget();
        this.refused(call, decoded, from);
        call.emit('error', decoded);
        return;
      }
      this.totals.add('framesReceived', 1);
      this.totals.add('messagesReceived', decoded.length);
      const counts = this.countFrom(from);
      counts.frames++;
      counts.messages += decoded.length;
      for (const message of decoded) this.deliver(message);
    });
    call.on('end', () => {
      if (!this.streams.has(call)) return;
      forget();
      call.end();
    });
    call.on('cancelled', forget);
    call.on('close', forget);
  };

  readonly handleSnapshot = (call: SnapshotCall, callback: grpc.sendUnaryData<SnapshotAck>): void => {
    const opened = this.checkOpen(call, this.snapshots.size, this.options.snapshotsReceivingMax, 'snapshotsReceivingMax');
    if ('code' in opened) {
      this.refused(call, opened, metadataNodeId(call.metadata));
      callback(opened);
      return;
    }
    const from = opened.from;
    let done = false;
    const finish = (refusal: Refusal | null, ack?: SnapshotAck): void => {
      if (done) return;
      done = true;
      this.snapshots.delete(call);
      if (refusal !== null) {
        this.refused(call, refusal, from);
        callback(refusal);
      } else {
        callback(null, ack);
      }
    };
    this.snapshots.set(call, finish);
    const store = this.snapshotStore();
    if (store === undefined) {
      finish({ code: grpc.status.UNAVAILABLE, details: `node ${this.options.nodeId} has no snapshot store yet` });
      return;
    }
    const reception = new SnapshotReception(this.options, from, store, {
      take: (key) => this.takePartial(key),
      keep: (key, writer) => this.keepPartial(key, writer),
    });
    // One chunk at a time: the call is paused while a chunk is checked and written, so at most
    // a chunk or two (and what HTTP/2 flow control lets in) are ever in memory. grpc-js reads
    // ahead up to the stream's high-water mark (16 messages in object mode): lower it to 1.
    const readable = (call as unknown as { _readableState?: { highWaterMark: number } })._readableState;
    if (readable !== undefined) readable.highWaterMark = 1;
    let work = Promise.resolve();
    const refuse = (refusal: Refusal): void => {
      void reception.abort();
      finish(refusal);
    };
    // Every step in order; a step that throws (the disk: full, gone) refuses the call.
    const step = (task: () => Promise<void>): void => {
      work = work.then(task).catch((error: unknown) => {
        this.log.error({ err: error, peer: from }, 'writing a received snapshot failed');
        refuse({ code: grpc.status.INTERNAL, details: `node ${this.options.nodeId} could not write the snapshot: ${error instanceof Error ? error.message : String(error)}` });
      });
    };
    call.on('data', (chunk: SnapshotChunk) => {
      if (done) return;
      call.pause();
      step(async () => {
        if (done) return;
        const refusal = await reception.add(chunk);
        if (refusal !== undefined) return refuse(refusal);
        call.resume();
      });
    });
    call.on('end', () => {
      step(async () => {
        if (done) return;
        const result = await reception.finish();
        if ('code' in result) {
          // Ended short (a sender cut off mid-transfer ends the call too): keep what was verified.
          if (reception.incomplete) {
            await reception.keepForResume();
            return finish(result);
          }
          return refuse(result);
        }
        if (done) return void reception.abort();
        this.totals.add('snapshotsReceived', 1);
        this.countFrom(from).snapshots++;
        this.log.info({ peer: from, totalBytes: reception.bytes, index: result.snapshot?.meta.index }, 'snapshot received');
        this.deliver(result);
        finish(null, { bytesReceived: reception.bytes });
      });
    });
    call.on('cancelled', () => {
      done = true;
      this.snapshots.delete(call);
      // The sender's connection broke off (or it gave up): keep what was verified, to resume.
      step(() => reception.keepForResume());
    });
  };

  /**
   * A peer that opens a new stream has given up its old one (it crashed, or its connection
   * died without a word): end the old one, so it cannot hold a slot or deliver stale frames.
   */
  private supersede(from: NodeId, call: StreamCall): void {
    const old = this.streamByPeer.get(from);
    this.streamByPeer.set(from, call);
    if (old === undefined || !this.streams.has(old)) return;
    this.streams.delete(old);
    this.log.info({ peer: from }, 'peer opened a new stream: ending its previous one');
    old.emit('error', { code: grpc.status.ABORTED, details: `superseded by a newer stream from node ${from}` });
  }

  /** Authentication (security.ts), identity (metadata) and capacity checks at call open. */
  private checkOpen(call: StreamCall | SnapshotCall | ResumeCall, open: number, openMax: number, limitName: string): Refusal | { from: NodeId } {
    if (this.closed) return { code: grpc.status.UNAVAILABLE, details: 'the peer transport of this node is closed' };
    const claimed = Number(metadataString(call.metadata, METADATA_FROM_NODE));
    const unauthenticated = checkPeerCall(this.security(), call, claimed);
    if (unauthenticated !== undefined) return unauthenticated;
    const identity = checkIdentity(call.metadata, this.options);
    if ('code' in identity) return identity;
    if (open >= openMax) {
      return { code: grpc.status.RESOURCE_EXHAUSTED, details: `${limitName} (${openMax}) reached on node ${this.options.nodeId}` };
    }
    return identity;
  }

  /** Decodes a whole frame before delivering any of it: a bad frame delivers nothing. */
  private readFrame(frame: RaftFrame, first: boolean, from: NodeId): Refusal | Message[] {
    const own = this.options.clusterId;
    if ((first || frame.clusterId !== '') && frame.clusterId !== own) {
      return clusterMismatch(frame.clusterId, from, this.options);
    }
    if (frame.from !== from || frame.to !== this.options.nodeId) {
      return invalid(`frame from ${frame.from} to ${frame.to} on a stream from node ${from} to node ${this.options.nodeId}`);
    }
    const messages: Message[] = [];
    for (const [i, bytes] of frame.messages.entries()) {
      const message = decodeOrRefusal(bytes, this.options.messageBytesMax);
      if ('code' in message) return { code: message.code, details: `message ${i} of frame: ${message.details}` };
      if (message.from !== from || message.to !== this.options.nodeId) {
        return invalid(`message ${i} is from ${message.from} to ${message.to} in a frame from ${from} to ${this.options.nodeId}`);
      }
      messages.push(message);
    }
    return messages;
  }

  private refused(call: { getPeer(): string }, refusal: Refusal, from: NodeId | undefined): void {
    this.totals.add('inboundRefused', 1);
    const key = `${call.getPeer().replace(/:\d+$/, '')}|${from}|${refusal.code}|${refusal.details}`;
    const nowMs = Date.now();
    const lastMs = this.refusalsLoggedAtMs.get(key);
    const fields = { peerAddress: call.getPeer(), peer: from, code: grpc.status[refusal.code], details: refusal.details };
    if (lastMs !== undefined && nowMs - lastMs < REFUSAL_LOG_INTERVAL_MS) {
      this.log.debug(fields, 'refused a peer call');
      return;
    }
    if (this.refusalsLoggedAtMs.size >= REFUSAL_LOG_KEYS_MAX) this.refusalsLoggedAtMs.clear();
    this.refusalsLoggedAtMs.set(key, nowMs);
    this.log.warn(fields, 'refused a peer call');
  }
}

/**
 * Receives one snapshot within snapshotBytesMax into a snapshot writer (a temporary file): each
 * chunk's CRC-32 and offset checked as it arrives, the SHA-256 of the whole at the end; then the
 * writer is staged in the store and the message delivered with empty data (the node takes the
 * staged writer for it). Answers a Refusal on anything amiss; nothing is delivered or kept then.
 */
class SnapshotReception {
  private message: Message | undefined;
  private writer: SnapshotWriter | undefined;
  private totalBytes = 0;
  private digest: Uint8Array = new Uint8Array(0);
  /** partialKey of this transfer, once its header was read. */
  private key: string | undefined;

  constructor(
    private readonly options: ResolvedTransportOptions,
    private readonly from: NodeId,
    private readonly store: SnapshotStore,
    /** The receiver's keep of transfers that broke off. */
    private readonly partials: { take(key: string): SnapshotWriter | undefined; keep(key: string, writer: SnapshotWriter): void },
  ) {}

  /** Bytes received and written so far. */
  get bytes(): number {
    return this.received;
  }

  private received = 0;

  async add(chunk: SnapshotChunk): Promise<Refusal | undefined> {
    if (this.writer === undefined) {
      const refusal = this.readHeader(chunk);
      if (refusal !== undefined) return refusal;
    }
    const writer = this.writer;
    if (writer === undefined) throw new Error('snapshot reception without a writer after its header');
    if (chunk.offset !== writer.bytes) {
      return invalid(`snapshot chunk at offset ${chunk.offset}, expected ${writer.bytes}`);
    }
    if (crc32(chunk.data) !== chunk.dataCrc32) {
      return {
        code: grpc.status.DATA_LOSS,
        details: `snapshot chunk at offset ${chunk.offset} (${chunk.data.length} bytes) fails its CRC-32 check: refused, nothing installed`,
      };
    }
    if (writer.bytes + chunk.data.length > this.totalBytes) {
      return invalid(`snapshot chunks carry more than the announced ${this.totalBytes} bytes`);
    }
    await writer.write(chunk.data);
    this.received = writer.bytes;
    return undefined;
  }

  async finish(): Promise<Refusal | Message> {
    const writer = this.writer;
    if (this.message === undefined || writer === undefined) return invalid('snapshot call without chunks');
    if (writer.bytes !== this.totalBytes) {
      return invalid(`snapshot ended after ${writer.bytes} of ${this.totalBytes} bytes`);
    }
    if (!Buffer.from(writer.digest()).equals(Buffer.from(this.digest))) {
      return { code: grpc.status.DATA_LOSS, details: `snapshot of ${this.totalBytes} bytes fails its SHA-256 check: refused, nothing installed` };
    }
    const snapshot = this.message.snapshot;
    if (snapshot === undefined) throw new Error('snapshot header lost its snapshot');
    this.store.stage(snapshot.meta, writer);
    this.writer = undefined; // staged: the store owns it now
    return { ...this.message, snapshot: { meta: snapshot.meta, data: new Uint8Array(0) } };
  }

  /** Its header was read and fewer bytes than announced arrived, each of them verified. */
  get incomplete(): boolean {
    return this.writer !== undefined && this.key !== undefined && this.received < this.totalBytes;
  }

  /** A call that broke off: its writer is kept for a resume if it holds verified bytes. */
  async keepForResume(): Promise<void> {
    const writer = this.writer;
    if (writer === undefined || this.key === undefined || writer.bytes === 0) return this.abort();
    this.writer = undefined;
    this.partials.keep(this.key, writer);
  }

  /** Drops the temporary file (a refused call: nothing of it is kept). */
  async abort(): Promise<void> {
    const writer = this.writer;
    this.writer = undefined;
    await writer?.abort();
  }

  private readHeader(chunk: SnapshotChunk): Refusal | undefined {
    if (chunk.clusterId !== this.options.clusterId) return clusterMismatch(chunk.clusterId, this.from, this.options);
    if (chunk.from !== this.from || chunk.to !== this.options.nodeId) {
      return invalid(`snapshot header from ${chunk.from} to ${chunk.to} on a call from ${this.from} to ${this.options.nodeId}`);
    }
    if (chunk.totalBytes > this.options.snapshotBytesMax) {
      return {
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `snapshot of ${chunk.totalBytes} bytes exceeds snapshotBytesMax (${this.options.snapshotBytesMax}) of node ${this.options.nodeId}`,
      };
    }
    if (chunk.dataDigest.length !== 32) return invalid(`snapshot header with a data digest of ${chunk.dataDigest.length} bytes, not 32 (SHA-256)`);
    const message = decodeOrRefusal(chunk.message, this.options.messageBytesMax - FRAME_OVERHEAD_BYTES);
    if ('code' in message) return message;
    if (message.type !== 'snapshot' || message.snapshot === undefined) {
      return invalid(`snapshot header holds a '${message.type}' message without a snapshot`);
    }
    if (message.from !== this.from || message.to !== this.options.nodeId) {
      return invalid(`snapshot message from ${message.from} to ${message.to} on a call from ${this.from}`);
    }
    this.message = message;
    this.totalBytes = chunk.totalBytes;
    this.digest = Buffer.from(chunk.dataDigest);
    const snapshotMeta = message.snapshot.meta;
    this.key = partialKey(this.from, snapshotMeta.index, snapshotMeta.term, this.digest, this.totalBytes);
    const partial = this.partials.take(this.key);
    if (chunk.offset === 0) {
      void partial?.abort(); // a fresh start: what an earlier call left is not needed
      this.writer = this.store.create();
      return undefined;
    }
    if (partial === undefined || partial.bytes !== chunk.offset) {
      if (partial !== undefined) this.partials.keep(this.key, partial);
      this.key = undefined; // nothing of this call is worth keeping
      return {
        code: grpc.status.FAILED_PRECONDITION,
        details: `snapshot ${snapshotMeta.index} resumed at byte ${chunk.offset}, but node ${this.options.nodeId} holds ${partial?.bytes ?? 0} bytes of it`,
      };
    }
    this.writer = partial;
    this.received = partial.bytes;
    return undefined;
  }
}

/** A transfer's identity for a resume: the sender, the snapshot, its digest and size. */
function partialKey(from: NodeId, index: number, term: number, digest: Uint8Array, totalBytes: number): string {
  return `${from}/${index}/${term}/${Buffer.from(digest).toString('hex')}/${totalBytes}`;
}

function checkIdentity(metadata: grpc.Metadata, options: ResolvedTransportOptions): Refusal | { from: NodeId } {
  const clusterId = metadataString(metadata, METADATA_CLUSTER_ID);
  if (clusterId === undefined) {
    return { code: grpc.status.FAILED_PRECONDITION, details: `missing ${METADATA_CLUSTER_ID} metadata: not a sessionraft peer` };
  }
  const from = Number(metadataString(metadata, METADATA_FROM_NODE));
  if (clusterId !== options.clusterId) return clusterMismatch(clusterId, from, options);
  const settings = metadataString(metadata, METADATA_SHARED_SETTINGS) ?? '';
  if (settings !== options.sharedSettings) {
    return {
      code: grpc.status.FAILED_PRECONDITION,
      details:
        `settings mismatch: node ${from} runs with '${settings}', node ${options.nodeId} with '${options.sharedSettings}'; ` +
        'these change what applying an entry does, so every node must use the same values',
    };
  }
  const to = Number(metadataString(metadata, METADATA_TO_NODE));
  if (!Number.isSafeInteger(from) || from < 1 || from === options.nodeId) {
    return { code: grpc.status.FAILED_PRECONDITION, details: `bad ${METADATA_FROM_NODE} ${from} (this is node ${options.nodeId})` };
  }
  if (to !== options.nodeId) {
    return {
      code: grpc.status.FAILED_PRECONDITION,
      details: `node ${from} addressed node ${to} but reached node ${options.nodeId}: check node ${from}'s peer address map`,
    };
  }
  return { from: from as NodeId };
}

function clusterMismatch(clusterId: string, from: number, options: ResolvedTransportOptions): Refusal {
  return {
    code: grpc.status.FAILED_PRECONDITION,
    details: `cluster id mismatch: node ${from} belongs to cluster '${clusterId}', node ${options.nodeId} to '${options.clusterId}'; check both nodes' cluster id`,
  };
}

function invalid(details: string): Refusal {
  return { code: grpc.status.INVALID_ARGUMENT, details };
}

function decodeOrRefusal(bytes: Uint8Array, bytesMax: number): Refusal | Message {
  try {
    return decodeMessage(bytes, bytesMax);
  } catch (error) {
    if (error instanceof CodecError) return invalid(error.message);
    throw error;
  }
}

/** The caller's claimed node id, for log lines about refused calls. */
function metadataNodeId(metadata: grpc.Metadata): NodeId | undefined {
  const from = Number(metadataString(metadata, METADATA_FROM_NODE));
  return Number.isSafeInteger(from) && from > 0 ? (from as NodeId) : undefined;
}

function metadataString(metadata: grpc.Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}
