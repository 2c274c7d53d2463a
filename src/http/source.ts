/**
 * What the operations endpoints read: a node's status, its transport counters, whether its loop
 * runs, and its live session count. Everything is read when asked (at scrape or probe time);
 * nothing here is called from the node's loop.
 */
import type { NodeStatus, SessionBackend } from '../node/index.js';
import type { TransportStats } from '../transport/index.js';

export interface OpsSource {
  status(): NodeStatus;
  transportStats(): TransportStats;
  /** True while the node's loop runs: false once it failed or the node began to stop. */
  alive(): boolean;
  /** Live (unexpired) sessions in this node's applied state; undefined when it cannot be read. */
  liveSessions(): Promise<number | undefined>;
}

/** The parts of a SessionNode the adapter uses (a SessionNode is one). */
export interface OpsNode extends Pick<SessionBackend, 'status' | 'read'> {
  /** Resolves when the node's loop dies. */
  readonly failed: { readonly promise: Promise<unknown> };
}

export interface NodeOpsSource extends OpsSource {
  /** Call when the node starts to stop: from then on alive() is false. */
  markStopping(): void;
}

/** An OpsSource over a started node. */
export function nodeOpsSource(node: OpsNode, transport: { stats(): TransportStats }): NodeOpsSource {
  let failed = false;
  let stopping = false;
  void node.failed.promise.then(() => {
    failed = true;
  });
  return {
    status: () => node.status(),
    transportStats: () => transport.stats(),
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
