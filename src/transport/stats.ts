/** Monotonic counters of the transport, kept per peer and in total. */
import type { NodeId } from '../raft/index.js';

export interface CounterValues {
  /** Frames written to peer streams. */
  readonly framesSent: number;
  readonly messagesSent: number;
  /** Encoded message bytes written (frame overhead excluded). */
  readonly bytesSent: number;
  /** Outgoing messages dropped: queue overflow, peer in backoff, stream lost, partition, unknown peer, too large. */
  readonly messagesDropped: number;
  /** Streams that completed their handshake. */
  readonly connects: number;
  /** Streams that failed or were lost. */
  readonly failures: number;
  readonly snapshotsSent: number;
  readonly snapshotsFailed: number;
  readonly framesReceived: number;
  readonly messagesReceived: number;
  readonly snapshotsReceived: number;
  /** Inbound calls refused or ended with an error status. */
  readonly inboundRefused: number;
}

export class Counters {
  private readonly values: { -readonly [K in keyof CounterValues]: number } = {
    framesSent: 0,
    messagesSent: 0,
    bytesSent: 0,
    messagesDropped: 0,
    connects: 0,
    failures: 0,
    snapshotsSent: 0,
    snapshotsFailed: 0,
    framesReceived: 0,
    messagesReceived: 0,
    snapshotsReceived: 0,
    inboundRefused: 0,
  };

  add(field: keyof CounterValues, n: number): void {
    if (!(Number.isSafeInteger(n) && n >= 0)) throw new Error(`counter ${field} += ${n}: not a count`);
    this.values[field] += n;
  }

  snapshot(): CounterValues {
    return { ...this.values };
  }
}

export interface PeerStats {
  readonly id: NodeId;
  readonly address: string;
  readonly state: 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';
  readonly partitioned: boolean;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly framesSent: number;
  readonly messagesSent: number;
  readonly bytesSent: number;
  readonly messagesDropped: number;
  readonly connects: number;
  readonly failures: number;
  readonly snapshotsSent: number;
  readonly snapshotsFailed: number;
  /** Frames, messages and snapshots received from this peer (counted by the receiver). */
  readonly framesReceived: number;
  readonly messagesReceived: number;
  readonly snapshotsReceived: number;
}

export interface TransportStats extends CounterValues {
  /** Inbound peer streams open now. */
  readonly inboundStreams: number;
  /** Snapshots being received now. */
  readonly snapshotsReceiving: number;
  readonly peers: readonly PeerStats[];
}
