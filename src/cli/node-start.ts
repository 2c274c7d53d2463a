/**
 * How `sessionraft node` starts with respect to its cluster, decided from the data directory and
 * the flags before anything listens:
 * - a directory with data (identity.json): restart; cluster id from the data, membership from the
 *   log; a --cluster-id or --peers that contradicts them is refused;
 * - an empty directory with --peers: bootstrap a new cluster;
 * - an empty directory with --join: ask a running cluster (its id, its members) and join it as a
 *   learner.
 * And what a running node does for its membership in the background: ask to be added (joining),
 * ask to be promoted once caught up (auto-promote), and record a new address (moved).
 */
import type { Logger } from 'pino';
import { SessionClient, SessionRaftError, type ConnectOptions } from '../client/index.js';
import { hasNodeData, readIdentity, writeIdentity, type NodeIdentity, type SessionNode } from '../node/index.js';
import type { NodeId } from '../raft/index.js';
import { UsageError } from './node-command.js';
import { fetchStatus } from './admin.js';

export interface StartFlags {
  readonly id: NodeId;
  readonly dataDir: string;
  readonly listenAddress: string;
  readonly peers?: ReadonlyMap<NodeId, string>;
  readonly join?: readonly string[];
  readonly clusterId?: string;
}

export interface StartPlan {
  readonly kind: 'bootstrap' | 'join' | 'restart';
  readonly clusterId: string;
  /** Bootstrap members (used by the node only while its log is empty). */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** Joining: the members the cluster named, to answer the leader's first messages. */
  readonly peerHints: ReadonlyMap<NodeId, string>;
  readonly identity: NodeIdentity;
}

export const CLUSTER_ID_DEFAULT = 'sessionraft';

/** Decides (and for a new node, records) how this node starts. `connect` options reach the cluster to join. */
export async function planStart(flags: StartFlags, connect: Omit<ConnectOptions, 'endpoints'>, logger: Logger): Promise<StartPlan> {
  const identity = readIdentity(flags.dataDir);
  if (identity !== undefined) return planRestart(flags, identity, logger);
  if (hasNodeData(flags.dataDir)) {
    throw new UsageError(
      `--data-dir ${flags.dataDir} is not empty but has no identity.json, so it is not a node's data directory (or one from a version that kept membership in flags). Start with an empty directory, or restore a backup into one.`,
    );
  }
  if (flags.peers !== undefined && flags.join !== undefined) {
    throw new UsageError('give --peers (to start a new cluster) or --join (to join a running one), not both');
  }
  if (flags.peers !== undefined) {
    const created: NodeIdentity = {
      clusterId: flags.clusterId ?? CLUSTER_ID_DEFAULT,
      nodeId: flags.id,
      origin: 'bootstrap',
      bootstrapMembers: Object.fromEntries(flags.peers),
      createdAtMs: Date.now(),
    };
    writeIdentity(flags.dataDir, created);
    return { kind: 'bootstrap', clusterId: created.clusterId, peers: flags.peers, peerHints: new Map(), identity: created };
  }
  if (flags.join !== undefined) {
    const status = await askCluster(flags.join, connect);
    if (flags.clusterId !== undefined && flags.clusterId !== status.clusterId) {
      throw new UsageError(`--cluster-id ${flags.clusterId}: the cluster at ${flags.join.join(',')} is '${status.clusterId}'`);
    }
    // A learner named here was added ahead by an operator (add-node, replace-node): it may join.
    // A voter with this id is this node before it lost its data: it must not vote again.
    if (status.members.some((m) => m.id === flags.id && m.voter)) {
      throw new UsageError(
        `node id ${flags.id} is already a voter of cluster '${status.clusterId}'. A node that lost its data comes back under a new id: sessionraft admin replace-node ${flags.id} --id NEW --address HOST:PORT`,
      );
    }
    if (status.removed.includes(flags.id)) {
      throw new UsageError(`node id ${flags.id} was removed from cluster '${status.clusterId}', and ids are never reused; pick a new --id`);
    }
    const created: NodeIdentity = { clusterId: status.clusterId, nodeId: flags.id, origin: 'join', createdAtMs: Date.now() };
    writeIdentity(flags.dataDir, created);
    const peerHints = new Map(status.members.filter((m) => m.address !== '').map((m) => [m.id as NodeId, m.address]));
    logger.info({ clusterId: status.clusterId, members: Object.fromEntries(peerHints) }, 'joining a running cluster');
    return { kind: 'join', clusterId: status.clusterId, peers: new Map(), peerHints, identity: created };
  }
  throw new UsageError('a node without data needs --peers (to start a new cluster) or --join host:port,... (to join a running one)');
}

function planRestart(flags: StartFlags, identity: NodeIdentity, logger: Logger): StartPlan {
  if (identity.nodeId !== flags.id) {
    throw new UsageError(`--data-dir ${flags.dataDir} holds the data of node ${identity.nodeId}, not of node ${flags.id}`);
  }
  if (flags.clusterId !== undefined && flags.clusterId !== identity.clusterId) {
    throw new UsageError(`--cluster-id ${flags.clusterId} conflicts with the data: this node belongs to cluster '${identity.clusterId}'`);
  }
  const bootstrap = new Map(Object.entries(identity.bootstrapMembers ?? {}).map(([id, address]) => [Number(id) as NodeId, address]));
  if (flags.peers !== undefined) {
    if (!sameMembers(flags.peers, bootstrap)) {
      throw new UsageError(
        `--peers conflicts with the data: this node has data, and membership comes from its log (see 'sessionraft status', change it with 'sessionraft admin'). Start it without --peers.`,
      );
    }
    logger.debug('--peers equals the members this cluster was bootstrapped with; membership comes from the log');
  }
  return { kind: 'restart', clusterId: identity.clusterId, peers: bootstrap, peerHints: new Map(), identity };
}

function sameMembers(a: ReadonlyMap<NodeId, string>, b: ReadonlyMap<NodeId, string>): boolean {
  return a.size === b.size && [...a].every(([id, address]) => b.get(id) === address);
}

async function askCluster(
  endpoints: readonly string[],
  connect: Omit<ConnectOptions, 'endpoints'>,
): Promise<{ clusterId: string; members: { id: number; address: string; voter: boolean }[]; removed: number[] }> {
  const problems: string[] = [];
  for (const endpoint of endpoints) {
    try {
      const status = await fetchStatus(endpoint, 3_000, connect);
      return {
        clusterId: status.clusterId,
        members: status.members.map((m) => ({ id: Number(m.id), address: m.address, voter: m.voter })),
        removed: (status.removedIds ?? []).map(Number),
      };
    } catch (error) {
      problems.push(`${endpoint}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`--join: no node of the cluster answered (${problems.join('; ')})`);
}

export interface MembershipDuties {
  readonly node: SessionNode;
  readonly id: NodeId;
  readonly listenAddress: string;
  /** Where to reach the cluster when this node knows no member yet (--join). */
  readonly join: readonly string[];
  /** Ask to be promoted once caught up (unless --no-auto-promote). */
  readonly autoPromote: boolean;
  /** A learner asks to be promoted after being caught up (its applied index within `promoteLagEntriesMax` of its commit index) this long. */
  readonly promoteAfterMs: number;
  readonly promoteLagEntriesMax: number;
  readonly connect: Omit<ConnectOptions, 'endpoints'>;
  readonly logger: Logger;
  readonly intervalMs?: number;
}

/**
 * Runs until stopped: every interval, does the one thing this node's membership needs, if any.
 * Returns a stop function.
 */
export function runMembershipDuties(duties: MembershipDuties): () => void {
  const { node, id, logger } = duties;
  const intervalMs = duties.intervalMs ?? 1_000;
  let stopped = false;
  let busy = false;
  let caughtUpSinceMs: number | undefined;
  const endpointsOf = (members: readonly { id: number; address: string }[]): string[] => {
    const known = members.filter((m) => m.id !== id && m.address !== '').map((m) => m.address);
    return known.length > 0 ? known : [...duties.join];
  };
  const call = async <T>(endpoints: string[], what: (client: SessionClient) => Promise<T>): Promise<T> => {
    const client = await SessionClient.connect({ ...duties.connect, endpoints, connectTimeoutMs: 3_000, deadlineMsDefault: 10_000 });
    try {
      return await what(client);
    } finally {
      client.close();
    }
  };
  const turn = async (): Promise<void> => {
    const status = node.status();
    const self = status.members.find((m) => m.id === id);
    if (self === undefined) {
      // Not a member yet (joining; or our AddMember never landed): ask, unless nothing says where.
      if (duties.join.length === 0 || status.members.some((m) => m.voter)) return;
      try {
        await call([...duties.join], (c) => c.addMember(id, duties.listenAddress, { learner: true }));
        logger.info({ id, address: duties.listenAddress }, 'added to the cluster as a learner');
      } catch (error) {
        if (error instanceof SessionRaftError && error.codeName === 'ALREADY_EXISTS') return;
        logger.warn({ err: error }, 'asking the cluster to add this node failed; will retry');
      }
      return;
    }
    if (self.address !== duties.listenAddress) {
      try {
        await call(endpointsOf(status.members), (c) => c.updateMember(id, duties.listenAddress));
        logger.info({ from: self.address, to: duties.listenAddress }, 'recorded this node\'s new address in the cluster');
      } catch (error) {
        logger.warn({ err: error }, 'recording this node\'s new address failed; will retry');
      }
      return;
    }
    if (self.voter || !duties.autoPromote) {
      caughtUpSinceMs = undefined;
      return;
    }
    const caughtUp = status.raft.leader !== 0 && status.raft.commit - status.appliedIndex <= duties.promoteLagEntriesMax && status.appliedIndex > 0;
    if (!caughtUp) {
      caughtUpSinceMs = undefined;
      return;
    }
    caughtUpSinceMs ??= Date.now();
    if (Date.now() - caughtUpSinceMs < duties.promoteAfterMs) return;
    try {
      await call(endpointsOf(status.members), (c) => c.promoteMember(id));
      logger.info({ id }, 'promoted to voter');
    } catch (error) {
      caughtUpSinceMs = undefined;
      logger.info({ err: error }, 'promotion refused for now; will retry');
    }
  };
  const timer = setInterval(() => {
    if (stopped || busy) return;
    busy = true;
    turn()
      .catch((error: unknown) => logger.warn({ err: error }, 'membership duty failed'))
      .finally(() => (busy = false));
  }, intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
