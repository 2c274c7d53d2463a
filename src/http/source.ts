/**
 * What the operations endpoints read: a node's status, its transport counters, whether its loop
 * runs, its live session count, its NodeStats and the client API's request counts. Everything is read when asked (at scrape or probe time);
 * nothing here is called from the node's loop.
 */
import type { NodeStats, NodeStatus, SessionBackend } from '../node/index.js';
import type { TransportStats } from '../transport/index.js';

export interface OpsSource {
  status(): NodeStatus;
  transportStats(): TransportStats;
  /** True while the node's loop runs: false once it failed or the node began to stop. */
  alive(): boolean;
  /** Live (unexpired) sessions in this node's applied state; undefined when it cannot be read. */
  liveSessions(): Promise<number | undefined>;
  /** What the node counts about itself (proposals, latencies, snapshots, expirations). */
  nodeStats(): NodeStats;
  /** Client API calls answered so far, by method and status code. */
  requestCounts(): Iterable<RequestCount>;
}

/** Calls of one method answered with one gRPC status code (a name: OK, UNAVAILABLE...). */
export interface RequestCount {
  readonly method: string;
  readonly code: string;
  readonly count: number;
}

/** The parts of a SessionNode the adapter uses (a SessionNode is one). */
export interface OpsNode extends Pick<SessionBackend, 'status' | 'read'> {
  readonly stats: NodeStats;
  /** Resolves when the node's loop dies. */
  readonly failed: { readonly promise: Promise<unknown> };
}

export interface NodeOpsSource extends OpsSource {
  /** Call when the node starts to stop: from then on alive() is false. */
  markStopping(): void;
}

/** An OpsSource over a started node, and the request counter of its client API (none: no counts). */
export function nodeOpsSource(
  node: OpsNode,
  transport: { stats(): TransportStats },
  requests: { counts(): Iterable<RequestCount> } = { counts: () => [] },
): NodeOpsSource {
  let failed = false;
  let stopping = false;
  void node.failed.promise.then(() => {
    failed = true;
  });
  return {
    status: () => node.status(),
    transportStats: () => transport.stats(),
    nodeStats: () => node.stats,
    requestCounts: () => requests.counts(),
    alive: () => !failed && !stopping,
    markStopping: () => {
      stopping = true;
    },
    // A STALE read with minIndex 0 runs the query on the applied state at once (no Raft round),
    // counting the sessions alive at the log's clock.
    liveSessions: () =>
      node.read((view, _appliedIndex, readTimeMs) => view.count(readTimeMs), { consistency: 'stale' }).then(
        (count) => count,
        () => undefined, // stopping or failed: the node refuses reads
      ),
  };
}
