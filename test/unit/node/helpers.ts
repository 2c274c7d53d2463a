/**
 * What the in-process node tests share: a transport that carries nothing (messages handed to a
 * test, none sent anywhere), the options of a one-node cluster, and one-node SessionNodes on real
 * LevelDB in temp dirs, stopped and removed after each test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach } from 'vitest';
import { openNodeOnDisk, resolveNodeOptions, type NodeOptions, type NodeTransport, type SessionNode } from '../../../src/node/index.js';
import type { Message, NodeId } from '../../../src/raft/index.js';
import type { AppliedChangesSink } from '../../../src/watch/index.js';

export const silentLogger = pino({ level: 'silent' });

/** A NodeTransport that sends nowhere: `sent` keeps what the node sent, `deliver` hands it a message. */
export interface TestTransport extends NodeTransport {
  readonly sent: Message[];
  deliver(message: Message): void;
}

export function testTransport(): TestTransport {
  let handler: ((message: Message) => void) | undefined;
  return {
    sent: [],
    deliver(message) {
      if (handler === undefined) throw new Error('the node has not subscribed to messages yet');
      handler(message);
    },
    send(messages) {
      this.sent.push(...messages);
    },
    onMessage: (h) => void (handler = h),
    onUnreachable: () => undefined,
    onSnapshotStatus: () => undefined,
    addPeer: () => undefined,
    removePeer: () => undefined,
    useSnapshots: () => undefined,
    close: () => undefined,
  };
}

const dirs: string[] = [];
const nodes: SessionNode[] = [];

/** Stops every node these helpers started and removes their dirs; also nodes a test registers. */
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.stop({ transferLeadership: false }).catch(() => undefined);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Stopped after the test. */
export function stopAfterTest(node: SessionNode): SessionNode {
  nodes.push(node);
  return node;
}

/** A temp dir removed after the test. */
export function tempDir(name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `sessionraft-${name}-`));
  dirs.push(dir);
  return dir;
}

/** Options of node 1, alone in its cluster, with a 5 ms tick. */
export function oneNodeOptions(dataDir: string, overrides: Partial<NodeOptions> = {}): NodeOptions {
  return resolveNodeOptions({
    id: 1 as NodeId,
    clusterId: 'unit',
    listenAddress: '127.0.0.1:1',
    peers: new Map([[1 as NodeId, '127.0.0.1:1']]),
    dataDir,
    tickIntervalMs: 5,
    ...overrides,
  });
}

/** A started one-node SessionNode on LevelDB in `options.dataDir` (openNodeOnDisk, as the CLI opens one). */
export async function openOneNode(options: NodeOptions, changes?: AppliedChangesSink): Promise<SessionNode> {
  const { node, transport } = await openNodeOnDisk(options, silentLogger, changes ? { changes } : {});
  transport.bindTo(new grpc.Server());
  node.start();
  return stopAfterTest(node);
}
