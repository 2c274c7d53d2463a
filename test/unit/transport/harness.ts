/**
 * Test harness: real grpc.Servers on 127.0.0.1 ephemeral ports with a GrpcTransport each,
 * recording what they receive and report. Everything it creates is closed by `cleanup()`.
 */
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { nodeId, term, logIndex, type Message, type NodeId } from '../../../src/raft/index.js';
import { createMemoryStorage, type SnapshotStore } from '../../../src/storage/index.js';
import {
  GrpcTransport,
  transportServerOptions,
  type GrpcTransportOptions,
} from '../../../src/transport/index.js';

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface TestNode {
  readonly id: NodeId;
  readonly transport: GrpcTransport;
  readonly server: grpc.Server;
  readonly port: number;
  readonly address: string;
  readonly received: Message[];
  readonly unreachable: NodeId[];
  readonly snapshotStatus: { peer: NodeId; ok: boolean }[];
  readonly logs: LogLine[];
  /** Where the transport reads the snapshots it sends and stages the ones it receives. */
  readonly snapshots: SnapshotStore;
}

const servers = new Set<grpc.Server>();
const transports = new Set<GrpcTransport>();

export async function startServer(port = 0): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(transportServerOptions());
  servers.add(server);
  const boundPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return { server, port: boundPort };
}

export function stopServer(server: grpc.Server): void {
  server.forceShutdown();
  servers.delete(server);
}

export interface NodeOptions extends Partial<Omit<GrpcTransportOptions, 'nodeId' | 'logger'>> {
  readonly port?: number;
}

/** A node with a bound server; peers are wired by `connect`. */
export async function startNode(id: number, options: NodeOptions = {}): Promise<TestNode> {
  const { server, port } = await startServer(options.port ?? 0);
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const transport = new GrpcTransport({
    clusterId: 'test-cluster',
    reconnectBackoffInitialMs: 20,
    reconnectBackoffMaxMs: 200,
    ...options,
    nodeId: nodeId(id),
    logger,
  });
  transports.add(transport);
  transport.bindTo(server);
  const snapshots = createMemoryStorage().snapshots;
  transport.useSnapshots(snapshots);
  const node: TestNode = {
    id: nodeId(id),
    transport,
    server,
    port,
    address: `127.0.0.1:${port}`,
    received: [],
    unreachable: [],
    snapshotStatus: [],
    logs,
    snapshots,
  };
  transport.onMessage((m) => node.received.push(m));
  transport.onUnreachable((peer) => node.unreachable.push(peer));
  transport.onSnapshotStatus((peer, ok) => node.snapshotStatus.push({ peer, ok }));
  return node;
}

/** Every node learns every other node's address. */
export function connectAll(nodes: readonly TestNode[]): void {
  for (const a of nodes) for (const b of nodes) if (a !== b) a.transport.addPeer(b.id, b.address);
}

export function heartbeat(from: NodeId, to: NodeId, seq: number): Message {
  return { type: 'heartbeat', from, to, term: term(1), commit: logIndex(seq), context: new Uint8Array([seq & 0xff]) };
}

export function append(from: NodeId, to: NodeId, seq: number, payloadBytes = 300): Message {
  const data = new Uint8Array(payloadBytes).fill(seq & 0xff);
  return {
    type: 'append',
    from,
    to,
    term: term(2),
    logTerm: term(2),
    index: logIndex(seq),
    commit: logIndex(seq),
    entries: [{ term: term(2), index: logIndex(seq + 1), type: 'normal', data }],
  };
}

export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function track(transport: GrpcTransport): GrpcTransport {
  transports.add(transport);
  return transport;
}

export function cleanup(): void {
  for (const t of transports) t.close();
  transports.clear();
  for (const s of servers) s.forceShutdown();
  servers.clear();
}
