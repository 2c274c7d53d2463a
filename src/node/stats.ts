/**
 * What a node counts about itself while it runs: plain numbers and bucket arrays, updated in the
 * loop and the write path, read by src/http when /metrics is scraped. No metrics library here
 * (src/node stays free of one); every field only grows, except the gauges named as such.
 */
import type { NodeId } from '../raft/index.js';
import { NodeError } from './errors.js';

/** Upper bounds (seconds) for disk waits: an fsync, a LevelDB batch. */
export const DISK_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
]);
/** Upper bounds (seconds) for a peer round trip as the leader's loop sees it. */
export const ROUND_TRIP_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024,
]);
/** Upper bounds (seconds) for taking or installing a snapshot. */
export const SNAPSHOT_BUCKETS_SECONDS: readonly number[] = Object.freeze([0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]);

/**
 * A cumulative histogram of durations with fixed bounds: `counts[i]` holds the observations in
 * (bounds[i-1], bounds[i]], the last slot those above every bound.
 */
export class DurationHistogram {
  readonly counts: number[];
  sumSeconds = 0;
  count = 0;

  constructor(readonly boundsSeconds: readonly number[]) {
    if (boundsSeconds.length === 0) throw new RangeError('a histogram needs at least one bucket bound');
    for (let i = 1; i < boundsSeconds.length; i++) {
      if (!(boundsSeconds[i]! > boundsSeconds[i - 1]!)) throw new RangeError(`bucket bounds must increase: ${boundsSeconds.join(', ')}`);
    }
    this.counts = new Array<number>(boundsSeconds.length + 1).fill(0);
  }

  observe(seconds: number): void {
    const value = seconds > 0 ? seconds : 0; // a clock step backwards counts as instant
    let slot = 0;
    while (slot < this.boundsSeconds.length && value > this.boundsSeconds[slot]!) slot++;
    this.counts[slot]!++;
    this.sumSeconds += value;
    this.count++;
  }
}

/** Why a write was not answered with an outcome (metric label values). */
export const PROPOSAL_FAILURE_REASONS = [
  'not_leader',
  'overloaded',
  'dropped',
  'timeout',
  'outcome_unknown',
  'shutting_down',
  'cancelled',
  'other',
] as const;
export type ProposalFailureReason = (typeof PROPOSAL_FAILURE_REASONS)[number];

export function proposalFailureReason(error: unknown): ProposalFailureReason {
  if (error instanceof NodeError) {
    switch (error.code) {
      case 'NOT_LEADER':
        return 'not_leader';
      case 'OVERLOADED':
        return 'overloaded';
      case 'PROPOSAL_DROPPED':
        return 'dropped';
      case 'TIMEOUT':
        return 'timeout';
      case 'OUTCOME_UNKNOWN':
        return 'outcome_unknown';
      case 'SHUTTING_DOWN':
        return 'shutting_down';
      default:
        return 'other';
    }
  }
  return error instanceof Error && error.name === 'AbortError' ? 'cancelled' : 'other';
}

/** Peers whose round trip is measured, at most (a bound on the map below). */
const ROUND_TRIP_PEERS_MAX = 64;

export class NodeStats {
  /** Commands applied on this node (every replica counts the commands it applies). */
  proposalsCommitted = 0;
  readonly proposalsFailed: Record<ProposalFailureReason, number> = Object.fromEntries(
    PROPOSAL_FAILURE_REASONS.map((reason) => [reason, 0]),
  ) as Record<ProposalFailureReason, number>;
  /** The log save of one Ready (entries, hard state): one fsynced batch. */
  readonly appendFsync = new DurationHistogram(DISK_BUCKETS_SECONDS);
  /** Applying one Ready's committed entries: the state machine and its LevelDB batch. */
  readonly apply = new DurationHistogram(DISK_BUCKETS_SECONDS);
  snapshotsTaken = 0;
  snapshotsInstalled = 0;
  /** Gauge: bytes of the last snapshot taken or installed; 0 before the first. */
  snapshotLastBytes = 0;
  /** Reading the state, compacting the core, writing the file and compacting the log. */
  readonly snapshotTake = new DurationHistogram(SNAPSHOT_BUCKETS_SECONDS);
  /** Loading a received snapshot into a new state machine and LevelDB. */
  readonly snapshotInstall = new DurationHistogram(SNAPSHOT_BUCKETS_SECONDS);
  /** Sessions removed because they expired (sweep entries, or a create replacing an expired one). */
  sessionsExpired = 0;
  /** Heartbeat → response time per peer, measured while this node leads. */
  readonly peerRoundTrip = new Map<NodeId, DurationHistogram>();
  private readonly heartbeatSentAtMs = new Map<NodeId, number>();

  constructor(
    /** Gauge: writes accepted and not yet answered. */
    readonly pendingProposals: () => number,
    /**
     * A monotonic clock for durations, finer than the node's (Date.now() in ms): an fsync takes
     * well under a millisecond on a fast disk. Only measured, never decided on, so the
     * simulation's virtual clock need not drive it.
     */
    private readonly elapsedMs: () => number = () => performance.now(),
  ) {}

  /** Starts timing: the returned function gives the seconds since. */
  startTimer(): () => number {
    const startedAtMs = this.elapsedMs();
    return () => (this.elapsedMs() - startedAtMs) / 1000;
  }

  proposalFailed(error: unknown): void {
    this.proposalsFailed[proposalFailureReason(error)]++;
  }

  snapshotTaken(bytes: number, totalMs: number): void {
    this.snapshotsTaken++;
    this.snapshotLastBytes = bytes;
    this.snapshotTake.observe(totalMs / 1000);
  }

  snapshotInstalled(bytes: number, loadSeconds: number): void {
    this.snapshotsInstalled++;
    this.snapshotLastBytes = bytes;
    this.snapshotInstall.observe(loadSeconds);
  }

  /**
   * A heartbeat to `peer` leaves now. A later send overwrites an unanswered one: heartbeats are
   * far apart compared to a round trip, so a response most likely answers the newest (a lost
   * heartbeat then does not inflate the next measurement).
   */
  heartbeatSent(peer: NodeId): void {
    if (!this.heartbeatSentAtMs.has(peer) && this.heartbeatSentAtMs.size >= ROUND_TRIP_PEERS_MAX) return;
    this.heartbeatSentAtMs.set(peer, this.elapsedMs());
  }

  /** A heartbeat response from `peer` arrived now. */
  heartbeatAnswered(peer: NodeId): void {
    const nowMs = this.elapsedMs();
    const sentAtMs = this.heartbeatSentAtMs.get(peer);
    if (sentAtMs === undefined) return;
    this.heartbeatSentAtMs.delete(peer);
    let histogram = this.peerRoundTrip.get(peer);
    if (histogram === undefined) {
      if (this.peerRoundTrip.size >= ROUND_TRIP_PEERS_MAX) return;
      histogram = new DurationHistogram(ROUND_TRIP_BUCKETS_SECONDS);
      this.peerRoundTrip.set(peer, histogram);
    }
    histogram.observe((nowMs - sentAtMs) / 1000);
  }

  /** Leadership lost: outstanding heartbeats will not be answered to this node as leader. */
  leadershipLost(): void {
    this.heartbeatSentAtMs.clear();
  }
}
