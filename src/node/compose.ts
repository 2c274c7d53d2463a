/**
 * The one place a node meets its production IO: LevelDB on disk, the gRPC peer transport and the
 * system clock. Everything else (tests, the simulation) hands SessionNode.open its own.
 */
import type { Logger } from 'pino';
import type { NodeId } from '../raft/index.js';
import { openLevelStorage } from '../storage/index.js';
import type { AppliedChangesSink } from '../watch/index.js';
import { GrpcTransport } from '../transport/index.js';
import { SYSTEM_CLOCK } from './io.js';
import { SessionNode } from './node.js';
import type { NodeOptions } from './options.js';
import { seededRandom } from './random.js';

export interface NodeOnDisk {
  readonly node: SessionNode;
  /** Register it on the node's gRPC server (bindTo); the node closes it when it stops. */
  readonly transport: GrpcTransport;
}

/**
 * Opens LevelDB under options.dataDir, recovers the node from it, and gives it a gRPC transport.
 * `changes` is told every change the node applies (the watch service).
 */
export async function openNodeOnDisk(options: NodeOptions, logger: Logger, extras: { changes?: AppliedChangesSink } = {}): Promise<NodeOnDisk> {
  const storage = await openLevelStorage(options.dataDir);
  const transport = new GrpcTransport({
    nodeId: options.id,
    clusterId: options.clusterId,
    sharedSettings: SessionNode.sharedSettings(options),
    // The node adds its peers: the members its log names (or, joining, the ones it was told of).
    logger: logger.child({ module: 'transport' }),
  });
  try {
    const node = await SessionNode.open({
      options,
      logger,
      storage,
      transport,
      clock: SYSTEM_CLOCK,
      // Two nodes, or two starts of one, never share a sequence.
      random: seededRandom(`${options.clusterId}/${options.id}/${process.pid}/${Date.now()}`),
      ...(extras.changes ? { changes: extras.changes } : {}),
    });
    return { node, transport };
  } catch (error) {
    transport.close();
    await storage.close();
    throw error;
  }
}

/**
 * Fault injection (--fault-file): drop every outgoing Raft message to `blocked` until called
 * again. Only for tests of real processes; see fault-file.ts.
 */
export function blockPeers(transport: GrpcTransport, options: NodeOptions, blocked: readonly NodeId[]): void {
  const set = new Set(blocked);
  for (const id of transport.peerIds()) transport.setPartitioned(id, set.has(id));
}
