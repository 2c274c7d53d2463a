/**
 * GrpcTransport: Raft messages between the nodes of one cluster, over one long-lived gRPC
 * stream per peer (see proto/raft.proto for the wire format).
 *
 * send() never blocks and never calls back synchronously: it encodes, queues per peer and
 * schedules one flush per event-loop turn, which writes each peer's queue as one frame (more
 * only past messageBytesMax). Everything that goes wrong is reported the way Raft wants it:
 * a message is dropped and the peer reported unreachable (the leader then probes), a snapshot
 * transfer reports its outcome.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Message, NodeId } from '../raft/index.js';
import type { SnapshotStore } from '../storage/index.js';
import { CodecError, encodeMessage } from './codec.js';
import {
  checkPeer,
  FRAME_ITEM_OVERHEAD_BYTES,
  FRAME_OVERHEAD_BYTES,
  resolveTransportOptions,
  TRANSPORT_DEFAULTS,
  type GrpcTransportOptions,
  type ResolvedTransportOptions,
} from './options.js';
import { PeerLink } from './peer.js';
import { raftServiceDefinition } from './proto.js';
import { Receiver } from './receiver.js';
import { type PeerSecurity } from './security.js';
import { Counters, type PeerStats, type TransportStats } from './stats.js';

export type MessageHandler = (message: Message) => void;
export type UnreachableHandler = (peer: NodeId) => void;
export type SnapshotStatusHandler = (peer: NodeId, ok: boolean) => void;

/**
 * Options for the node's grpc.Server so that it accepts peer frames up to messageBytesMax
 * (grpc-js refuses messages over 4 MiB by default). Merge them into the server's options.
 */
export function transportServerOptions(messageBytesMax: number = TRANSPORT_DEFAULTS.messageBytesMax): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': messageBytesMax,
    'grpc.max_send_message_length': messageBytesMax,
  };
}

export class GrpcTransport {
  readonly options: ResolvedTransportOptions;
  private readonly peers = new Map<NodeId, PeerLink>();
  private readonly totals = new Counters();
  private readonly receiver: Receiver;
  private readonly unreachablePending = new Set<NodeId>();
  private readonly log: Logger;
  private messageHandler: MessageHandler | undefined;
  private unreachableHandler: UnreachableHandler | undefined;
  private snapshotStatusHandler: SnapshotStatusHandler | undefined;
  private flushScheduled: NodeJS.Immediate | undefined;
  private bound = false;
  private closed = false;
  private security: PeerSecurity = {};
  private securitySet = false;
  private snapshotStore: SnapshotStore | undefined;

  constructor(options: GrpcTransportOptions) {
    this.options = resolveTransportOptions(options);
    this.log = this.options.logger;
    this.receiver = new Receiver(
      this.options,
      this.totals,
      (m) => this.deliver(m),
      this.log,
      (peer) => this.peers.get(peer)?.peerIsBack(),
      () => this.security,
      () => this.snapshotStore,
    );
    for (const [id, address] of this.options.peers) this.addPeer(id, address);
  }

  /** Registers the RaftTransport service on the node's server (the runtime owns bind and shutdown). */
  bindTo(server: grpc.Server): void {
    if (this.closed) throw new Error('GrpcTransport.bindTo after close()');
    if (this.bound) throw new Error('GrpcTransport.bindTo called twice');
    this.bound = true;
    server.addService(raftServiceDefinition(), {
      Stream: this.receiver.handleStream,
      InstallSnapshot: this.receiver.handleSnapshot,
      SnapshotResume: this.receiver.handleSnapshotResume,
    });
    this.checkServerLimit(server);
  }

  /**
   * Peer authentication (see security.ts): TLS credentials and/or a cluster secret, for the calls
   * this node makes and the ones it accepts. Call once, before anything is sent (the node
   * composition does it right after creating the node, before start()).
   */
  useSecurity(security: PeerSecurity): void {
    if (this.securitySet) throw new Error('GrpcTransport.useSecurity called twice');
    if ([...this.peers.values()].some((link) => link.linkState !== 'idle')) {
      throw new Error('GrpcTransport.useSecurity after a peer stream was opened');
    }
    this.securitySet = true;
    this.security = Object.freeze({ ...security });
  }

  /** The one handler of received messages (a later call replaces it). Called in arrival order. */
  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  /** Called when a peer cannot be reached: stream lost or refused, messages dropped. */
  onUnreachable(handler: UnreachableHandler): void {
    this.unreachableHandler = handler;
  }

  /**
   * Where snapshots are read from to be sent (the stored snapshot, in chunks, whatever data a
   * snapshot message carries) and where received ones are written and staged (the node's
   * snapshot store; the node calls it when it is created). Without one, snapshots are refused.
   */
  useSnapshots(store: SnapshotStore): void {
    this.snapshotStore = store;
  }

  /** Called once per snapshot message sent: ok when the peer received all of it. */
  onSnapshotStatus(handler: SnapshotStatusHandler): void {
    this.snapshotStatusHandler = handler;
  }

  /**
   * Queues messages for their peers (`message.to`); returns at once. Every message must come
   * from this node. 'snapshot' messages go on their own chunked call.
   */
  send(messages: readonly Message[]): void {
    if (this.closed) return;
    try {
      this.route(messages);
    } finally {
      this.scheduleFlush();
    }
  }

  /** Adds a peer, or moves it to a new address (its stream is then reopened). */
  addPeer(id: NodeId, address: string): void {
    if (this.closed) return;
    checkPeer(this.options.nodeId, id, address);
    const existing = this.peers.get(id);
    if (existing !== undefined && existing.address === address) return;
    existing?.close();
    // Events of a replaced or removed link are stale: drop them.
    const current = (): boolean => !this.closed && this.peers.get(id) === link;
    const link: PeerLink = new PeerLink(
      id,
      address,
      this.options,
      this.totals,
      {
        unreachable: (peer) => current() && this.reportUnreachable(peer),
        snapshotStatus: (peer, ok) => current() && this.reportSnapshotStatus(peer, ok),
      },
      () => this.security,
      () => this.snapshotStore,
    );
    this.peers.set(id, link);
    this.log.debug({ peer: id, peerAddress: address }, existing === undefined ? 'peer added' : 'peer address changed');
  }

  /** Forgets a peer: its stream and any snapshot transfer are closed, its queue dropped. */
  removePeer(id: NodeId): void {
    const link = this.peers.get(id);
    if (link === undefined) return;
    this.peers.delete(id);
    this.unreachablePending.delete(id);
    link.close();
    this.log.debug({ peer: id }, 'peer removed');
  }

  /** The peers this transport dials now. */
  peerIds(): NodeId[] {
    return [...this.peers.keys()];
  }

  /**
   * Fault injection for tests: while set, every outgoing message to `peer` is silently dropped
   * (snapshots fail). One direction only: partition both ends for a symmetric partition.
   */
  setPartitioned(peer: NodeId, partitioned: boolean): void {
    const link = this.peers.get(peer);
    if (link === undefined) throw new RangeError(`setPartitioned: unknown peer ${peer}`);
    link.partitioned = partitioned;
  }

  stats(): TransportStats {
    const peers: PeerStats[] = [...this.peers.values()].map((link) => ({
      id: link.id,
      address: link.address,
      state: link.linkState,
      partitioned: link.partitioned,
      queuedMessages: link.queuedMessages,
      queuedBytes: link.queuedBytes,
      ...pickPeerCounters(link),
      ...this.receiver.receivedFrom(link.id),
    }));
    return {
      ...this.totals.snapshot(),
      inboundStreams: this.receiver.inboundStreams,
      snapshotsReceiving: this.receiver.snapshotsReceiving,
      peers,
    };
  }

  /** Closes every peer stream and client and ends inbound calls; the server stays the runtime's. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    for (const link of this.peers.values()) link.close();
    this.peers.clear();
    this.unreachablePending.clear();
    this.receiver.close();
    this.log.debug('transport closed');
  }

  private route(messages: readonly Message[]): void {
    const encodedBytesMax = this.options.messageBytesMax - FRAME_OVERHEAD_BYTES - FRAME_ITEM_OVERHEAD_BYTES;
    for (const message of messages) {
      if (message.from !== this.options.nodeId) {
        throw new Error(`send: message '${message.type}' is from node ${message.from}, but this is node ${this.options.nodeId}`);
      }
      const peer = this.peers.get(message.to);
      if (peer === undefined) {
        this.totals.add('messagesDropped', 1);
        this.log.debug({ to: message.to, type: message.type }, 'message to an unknown peer dropped');
        continue;
      }
      if (message.type === 'snapshot') {
        peer.sendSnapshot(message);
        continue;
      }
      const bytes = this.encode(message, encodedBytesMax);
      if (bytes === undefined || peer.enqueue(bytes) === 'dropped') this.unreachablePending.add(peer.id);
    }
  }

  private encode(message: Message, bytesMax: number): Uint8Array | undefined {
    try {
      return encodeMessage(message, bytesMax);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.totals.add('messagesDropped', 1);
      this.log.error({ err: error, to: message.to, type: message.type }, 'raft message cannot be sent');
      return undefined;
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled !== undefined || this.closed) return;
    this.flushScheduled = setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = undefined;
    for (const link of this.peers.values()) link.flush();
    const unreachable = [...this.unreachablePending];
    this.unreachablePending.clear();
    for (const peer of unreachable) this.reportUnreachable(peer);
  }

  private deliver(message: Message): void {
    const handler = this.messageHandler;
    if (handler === undefined) {
      this.log.debug({ from: message.from, type: message.type }, 'message received before onMessage: dropped');
      return;
    }
    this.guard('onMessage', () => handler(message));
  }

  private reportUnreachable(peer: NodeId): void {
    const handler = this.unreachableHandler;
    if (handler !== undefined) this.guard('onUnreachable', () => handler(peer));
  }

  private reportSnapshotStatus(peer: NodeId, ok: boolean): void {
    const handler = this.snapshotStatusHandler;
    if (handler !== undefined) this.guard('onSnapshotStatus', () => handler(peer, ok));
  }

  /** A throwing handler is a bug of the runtime; it must not take the transport's IO down with it. */
  private guard(name: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.log.error({ err: error }, `${name} handler threw`);
    }
  }

  private checkServerLimit(server: grpc.Server): void {
    const serverOptions = (server as unknown as { options?: Record<string, unknown> }).options;
    const limit = serverOptions?.['grpc.max_receive_message_length'];
    if (typeof limit === 'number' && (limit < 0 || limit >= this.options.messageBytesMax)) return;
    this.log.warn(
      { serverLimitBytes: limit ?? 4 * 1024 * 1024, messageBytesMax: this.options.messageBytesMax },
      'the gRPC server accepts smaller messages than peers may send: create it with transportServerOptions()',
    );
  }
}

function pickPeerCounters(
  link: PeerLink,
): Omit<PeerStats, 'id' | 'address' | 'state' | 'partitioned' | 'queuedMessages' | 'queuedBytes' | 'framesReceived' | 'messagesReceived' | 'snapshotsReceived'> {
  const c = link.counters.snapshot();
  return {
    framesSent: c.framesSent,
    messagesSent: c.messagesSent,
    bytesSent: c.bytesSent,
    messagesDropped: c.messagesDropped,
    connects: c.connects,
    failures: c.failures,
    snapshotsSent: c.snapshotsSent,
    snapshotsFailed: c.snapshotsFailed,
  };
}
