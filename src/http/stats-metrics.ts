/**
 * The metrics read from the node's NodeStats (proposals, disk and apply latency, peer round
 * trips, snapshots, expirations) and from the client API's request counts. The node keeps plain
 * counters and bucket arrays; each scrape copies them over, so nothing here runs in the loop.
 */
import { Counter, Gauge, type Metric, type Registry } from 'prom-client';
import { PROPOSAL_FAILURE_REASONS, type DurationHistogram, type NodeStats } from '../node/index.js';
import type { RequestCount } from './source.js';

export function registerStatsMetrics(registry: Registry, stats: () => NodeStats): void {
  const registers = [registry];
  const counter = (name: string, help: string, read: (s: NodeStats) => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read(stats()));
      },
    });
  };
  const gauge = (name: string, help: string, read: (s: NodeStats) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read(stats()));
      },
    });
  };

  gauge('sessionraft_proposals_pending', 'Writes accepted by this node and not yet answered.', (s) => s.pendingProposals());
  counter('sessionraft_proposals_committed_total', 'Commands applied on this node (each replica counts what it applies).', (s) => s.proposalsCommitted);
  new Counter({
    name: 'sessionraft_proposals_failed_total',
    help: 'Writes to this node answered with an error instead of an outcome, by reason.',
    labelNames: ['reason'],
    registers,
    collect() {
      const failed = stats().proposalsFailed;
      this.reset();
      for (const reason of PROPOSAL_FAILURE_REASONS) this.inc({ reason }, failed[reason]);
    },
  });
  histogram(registry, 'sessionraft_append_fsync_duration_seconds', 'Saving one Ready to the log (entries and hard state, one fsynced LevelDB batch).', () => [
    [{}, stats().appendFsync],
  ]);
  histogram(registry, 'sessionraft_apply_duration_seconds', 'Applying one Ready\'s committed entries: the state machine and its LevelDB batch.', () => [
    [{}, stats().apply],
  ]);
  histogram(
    registry,
    'sessionraft_peer_round_trip_time_seconds',
    'Heartbeat to response time per peer, measured while this node leads (handed to the transport to delivered by it).',
    () => [...stats().peerRoundTrip].map(([peer, h]) => [{ peer: String(peer) }, h]),
  );
  counter('sessionraft_snapshots_taken_total', 'Snapshots this node took of its own state (log compacted).', (s) => s.snapshotsTaken);
  counter('sessionraft_snapshots_installed_total', 'Snapshots received from the leader and installed.', (s) => s.snapshotsInstalled);
  gauge('sessionraft_snapshot_last_size_bytes', 'Size of the last snapshot taken or installed; 0 before the first.', (s) => s.snapshotLastBytes);
  histogram(registry, 'sessionraft_snapshot_take_duration_seconds', 'Taking a snapshot: reading the state, writing the file, compacting the log.', () => [
    [{}, stats().snapshotTake],
  ]);
  histogram(registry, 'sessionraft_snapshot_install_duration_seconds', 'Installing a received snapshot: loading it into a new state and LevelDB.', () => [
    [{}, stats().snapshotInstall],
  ]);
  counter('sessionraft_sessions_expired_total', 'Sessions this node removed because they expired (applied sweeps).', (s) => s.sessionsExpired);
}

export function registerRequestMetrics(registry: Registry, counts: () => Iterable<RequestCount>): void {
  new Counter({
    name: 'sessionraft_requests_total',
    help: 'Client API calls answered by this node, by method and gRPC status code; Batch items count each as Batch/<Operation>.',
    labelNames: ['method', 'code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { method, code, count } of counts()) this.inc({ method, code }, count);
    },
  });
}

type Labels = Record<string, string>;

/** One sample line as prom-client's Registry prints it. */
interface Sample {
  readonly metricName: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

/**
 * A histogram whose buckets the node already counts: prom-client's Histogram only takes single
 * observations, so this registers a metric object of its own (what Registry reads of a metric:
 * name, help, type, get(), reset()) that prints the buckets as they are.
 */
function histogram(registry: Registry, name: string, help: string, read: () => Iterable<readonly [Labels, DurationHistogram]>): void {
  const get = async (): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> => {
    const values: Sample[] = [];
    for (const [labels, h] of read()) {
      let cumulative = 0;
      for (const [slot, bound] of h.boundsSeconds.entries()) {
        cumulative += h.counts[slot]!;
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: bound }, value: cumulative });
      }
      values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
      values.push({ metricName: `${name}_sum`, labels, value: h.sumSeconds });
      values.push({ metricName: `${name}_count`, labels, value: h.count });
    }
    return { name, help, type: 'histogram', aggregator: 'sum', values };
  };
  const metric = { name, help, type: 'histogram', aggregator: 'sum', get, reset: () => undefined };
  registry.registerMetric(metric as unknown as Metric);
}
