/**
 * The node's Prometheus metrics, on a registry of its own (never prom-client's global one, so
 * several nodes in one process do not clash). Values are read from the OpsSource when scraped;
 * the only state kept here is the leader-change count, which needs the status sampled over time.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { NodeStatus } from '../node/index.js';
import type { PeerStats } from '../transport/index.js';
import type { OpsSource } from './source.js';
import { registerRequestMetrics, registerStatsMetrics } from './stats-metrics.js';

export interface NodeMetricsOptions {
  /** Also export prom-client's process and Node.js runtime metrics. @default true */
  readonly defaultMetrics?: boolean;
}

export interface NodeMetrics {
  readonly registry: Registry;
  /**
   * Reads the status once and counts a leader change if it shows one. Called on every scrape
   * and by the server's periodic sampler.
   */
  sample(): void;
}

type CountField = Exclude<{ [K in keyof PeerStats]: PeerStats[K] extends number ? K : never }[keyof PeerStats], 'id'>;

/** Per-peer transport counters: metric name suffix, help, the PeerStats field. */
const PEER_COUNTERS: readonly { name: string; help: string; field: CountField }[] = [
  { name: 'messages_sent_total', help: 'Raft messages written to the stream to this peer.', field: 'messagesSent' },
  { name: 'messages_received_total', help: 'Raft messages received from this peer.', field: 'messagesReceived' },
  {
    name: 'messages_dropped_total',
    help: 'Outgoing Raft messages to this peer dropped (queue overflow, reconnect backoff, stream lost, fault injection, too large).',
    field: 'messagesDropped',
  },
  { name: 'frames_sent_total', help: 'Frames (batches of messages) written to the stream to this peer.', field: 'framesSent' },
  { name: 'frames_received_total', help: 'Frames received from this peer.', field: 'framesReceived' },
  { name: 'bytes_sent_total', help: 'Encoded message bytes written to this peer (frame overhead excluded).', field: 'bytesSent' },
  { name: 'stream_connects_total', help: 'Streams to this peer that completed their handshake.', field: 'connects' },
  { name: 'stream_failures_total', help: 'Streams to this peer that failed or were lost.', field: 'failures' },
  { name: 'snapshots_sent_total', help: 'Snapshots sent to this peer in full.', field: 'snapshotsSent' },
  { name: 'snapshots_failed_total', help: 'Snapshots to this peer that failed or were dropped.', field: 'snapshotsFailed' },
  { name: 'snapshots_received_total', help: 'Snapshots received from this peer.', field: 'snapshotsReceived' },
];

export function createNodeMetrics(source: OpsSource, options: NodeMetricsOptions = {}): NodeMetrics {
  const registry = new Registry();
  const registers = [registry];

  // Leader changes, in the manner of etcd's leader_changes_seen_total: every term in which this
  // node is seen to know a leader counts once (the first one included). Sampled, so a leader
  // that came and went between two samples is missed.
  let countedTerm: number | undefined;
  const status = perScrape(() => source.status());
  const transportStats = perScrape(() => source.transportStats());
  const leaderChanges = new Counter({
    name: 'sessionraft_leader_changes_total',
    help: 'Leader changes seen by this node (terms in which it knew a leader), sampled every tick and at each scrape.',
    registers,
    collect() {
      observe(status());
    },
  });
  const observe = ({ raft }: NodeStatus): void => {
    if (raft.leader !== 0 && raft.term !== countedTerm) {
      countedTerm = raft.term;
      leaderChanges.inc();
    }
  };

  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  };
  gauge('sessionraft_has_leader', '1 if this node knows a leader, else 0.', () => (status().raft.leader !== 0 ? 1 : 0));
  gauge('sessionraft_is_leader', '1 if this node is the leader, else 0.', () => (status().raft.role === 'leader' ? 1 : 0));
  gauge('sessionraft_term', 'The current Raft term of this node.', () => status().raft.term);
  gauge('sessionraft_commit_index', 'The highest log index this node knows to be committed.', () => status().raft.commit);
  gauge('sessionraft_applied_index', 'The highest log index applied to this node\'s state machine.', () => status().appliedIndex);
  gauge('sessionraft_last_index', 'The last index in this node\'s log.', () => status().raft.lastIndex);

  new Gauge({
    name: 'sessionraft_live_sessions',
    help: 'Unexpired sessions in this node\'s applied state (kept at the last value read while the node refuses reads).',
    registers,
    async collect() {
      const count = await source.liveSessions();
      if (count !== undefined) this.set(count);
    },
  });

  // Transport counters are monotonic in the transport; each scrape copies them over.
  for (const { name, help, field } of PEER_COUNTERS) {
    new Counter({
      name: `sessionraft_peer_${name}`,
      help,
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset(); // a removed peer disappears rather than freezing at its last value
        for (const peer of transportStats().peers) this.inc({ peer: String(peer.id) }, peer[field]);
      },
    });
  }
  new Counter({
    name: 'sessionraft_peer_inbound_refused_total',
    help: 'Inbound peer calls refused or ended with an error (wrong cluster or settings, bad frames, limits).',
    registers,
    collect() {
      this.reset();
      this.inc(transportStats().inboundRefused);
    },
  });

  registerStatsMetrics(registry, () => source.nodeStats());
  registerRequestMetrics(registry, () => source.requestCounts());

  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return { registry, sample: () => observe(source.status()) };
}

/**
 * One read per scrape: prom-client runs the synchronous part of every collect of one scrape in
 * one turn, so a value read in that turn is shared by all of them and dropped at its end.
 */
function perScrape<T>(read: () => T): () => T {
  let value: T | undefined;
  return () => {
    if (value === undefined) {
      value = read();
      queueMicrotask(() => {
        value = undefined;
      });
    }
    return value;
  };
}
