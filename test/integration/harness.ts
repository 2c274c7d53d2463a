/**
 * Real node processes on loopback for integration and chaos tests. Each node runs the built CLI
 * (`dist/src/cli/main.js node`), so `make build` must have run (make test does). Only the pids
 * this harness spawned are ever signalled, and close() removes every process and temp dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchStatus, type NodeStatusReply } from '../../src/cli/admin.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cliPath = path.join(repoRoot, 'dist/src/cli/main.js');

export interface ClusterOptions {
  readonly nodes?: number;
  readonly host?: string;
  /** Extra flags for every node, e.g. ['--durability', 'async']. */
  readonly nodeArgs?: readonly string[];
  readonly tickMs?: number;
  /** Start nodes with --fault-file so blockLinks()/isolate()/healNetwork() work. */
  readonly faultFiles?: boolean;
}

/** Nodes poll their fault file every 100 ms; this leaves them time to see a change. */
const FAULT_FILE_SETTLE_MS = 250;

interface RunningNode {
  child: ChildProcess;
  log: WriteStream;
  exited: Promise<void>;
  /** Set when the harness itself signalled the process to stop. */
  stopping: boolean;
}

/** A node that exited without the harness asking it to. */
export interface UnexpectedExit {
  readonly id: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly logTail: string;
}

/** Ports the OS just handed out (bound then released): unlikely to collide between test files. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, host, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export class TestCluster {
  readonly dir: string;
  readonly endpoints: readonly string[];
  private readonly running = new Map<number, RunningNode>();
  /** Injected network faults: node id → the peers it sends no Raft message to. */
  private readonly blockedLinks = new Map<number, Set<number>>();
  /** Nodes that exited on their own (crashed, failed to start): a test should assert there are none. */
  readonly unexpectedExits: UnexpectedExit[] = [];

  /** Members a leader needs a majority of (waitForLeader); setMembers() after membership changes. */
  ids: readonly number[];
  /** Nodes started on an address of their own (joined, or moved). */
  private readonly addresses = new Map<number, string>();
  private readonly dataDirs = new Map<number, string>();

  private constructor(
    ids: readonly number[],
    endpoints: string[],
    private readonly options: ClusterOptions,
  ) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-it-'));
    this.endpoints = endpoints;
    this.ids = ids;
  }

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'make build' first`);
    const count = options.nodes ?? 3;
    const host = options.host ?? '127.0.0.1';
    const ports = await freePorts(count, host);
    const cluster = new TestCluster(
      ports.map((_, i) => i + 1),
      ports.map((p) => `${host}:${p}`),
      options,
    );
    liveClusters.add(cluster);
    for (const id of cluster.ids) cluster.startNode(id);
    return cluster;
  }

  address(id: number): string {
    return this.addresses.get(id) ?? this.endpoints[id - 1]!;
  }

  /** The members waitForLeader counts a majority of, after membership changes. */
  setMembers(ids: readonly number[]): void {
    this.ids = [...ids];
  }

  dataDir(id: number): string {
    return this.dataDirs.get(id) ?? path.join(this.dir, `n${id}`);
  }

  /** Starts node `id` on data made elsewhere (a restore) at `address`. */
  adopt(id: number, address: string, dataDir: string): void {
    this.dataDirs.set(id, dataDir);
    this.startNodeAt(id, address);
  }

  /** Deletes node `id`'s data directory (a lost disk); the node must be stopped. */
  wipe(id: number): void {
    if (this.running.has(id)) throw new Error(`node ${id} is running`);
    rmSync(this.dataDir(id), { recursive: true, force: true });
  }

  /** Starts node `id` on a new data directory, joining the cluster through `join` at `address`. */
  startJoiningNode(id: number, address: string, join: readonly string[], extraArgs: readonly string[] = []): void {
    this.addresses.set(id, address);
    this.spawnNode(id, ['--listen', address, '--join', join.join(','), ...extraArgs]);
  }

  /** Restarts node `id` from its data on `address` (no --peers: membership comes from its log). */
  startNodeAt(id: number, address: string): void {
    this.addresses.set(id, address);
    this.spawnNode(id, ['--listen', address]);
  }

  logPath(id: number): string {
    return path.join(this.dir, `n${id}.log`);
  }

  pid(id: number): number | undefined {
    return this.running.get(id)?.child.pid;
  }

  isRunning(id: number): boolean {
    return this.running.has(id);
  }

  startNode(id: number): void {
    const peers = this.endpoints.map((address, i) => `${i + 1}=${address}`).join(',');
    this.spawnNode(id, ['--peers', peers, '--cluster-id', 'it']);
  }

  private spawnNode(id: number, clusterArgs: readonly string[]): void {
    if (this.running.has(id)) throw new Error(`node ${id} is already running`);
    const log = createWriteStream(this.logPath(id), { flags: 'a' });
    const child = spawn(
      process.execPath,
      [
        cliPath,
        'node',
        '--id', String(id),
        ...clusterArgs,
        '--data-dir', this.dataDir(id),
        '--log-format', 'json',
        '--tick-ms', String(this.options.tickMs ?? 50),
        ...(this.options.faultFiles ? ['--fault-file', this.faultFilePath(id)] : []),
        ...(this.options.nodeArgs ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    const node: RunningNode = { child, log, exited: Promise.resolve(), stopping: false };
    node.exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        if (!node.stopping) this.unexpectedExits.push({ id, code, signal, logTail: this.logTail(id, 40) });
        resolve();
      }),
    );
    this.running.set(id, node);
    void node.exited.then(() => {
      if (this.running.get(id)?.child === child) this.running.delete(id);
    });
  }

  faultFilePath(id: number): string {
    return path.join(this.dir, `n${id}.faults.json`);
  }

  /** Node `from` sends no Raft message to any of `to` (a one-way partition) until healNetwork(). */
  async blockLinks(from: number, to: readonly number[]): Promise<void> {
    this.addBlocks(from, to);
    await sleep(FAULT_FILE_SETTLE_MS);
  }

  /** Cuts node `id` off from every other node, both ways; clients still reach it. */
  async isolate(id: number): Promise<void> {
    for (const other of this.ids) if (other !== id) this.addBlocks(other, [id]);
    this.addBlocks(id, this.ids);
    await sleep(FAULT_FILE_SETTLE_MS);
  }

  private addBlocks(from: number, to: readonly number[]): void {
    const blocked = this.blockedLinks.get(from) ?? new Set<number>();
    for (const id of to) if (id !== from) blocked.add(id);
    this.blockedLinks.set(from, blocked);
    this.writeFaultFile(from);
  }

  async healNetwork(): Promise<void> {
    if (this.blockedLinks.size === 0) return;
    const nodes = [...this.blockedLinks.keys()];
    this.blockedLinks.clear();
    for (const id of nodes) this.writeFaultFile(id);
    await sleep(FAULT_FILE_SETTLE_MS);
  }

  private writeFaultFile(id: number): void {
    if (!this.options.faultFiles) throw new Error('start the cluster with faultFiles: true to inject network faults');
    const file = this.faultFilePath(id);
    writeFileSync(`${file}.tmp`, JSON.stringify({ blockedPeers: [...(this.blockedLinks.get(id) ?? [])] }));
    renameSync(`${file}.tmp`, file);
  }

  /** Sends `signal` to node `id`; for KILL and TERM waits until the process is gone. */
  async signal(id: number, signal: NodeJS.Signals): Promise<void> {
    const node = this.running.get(id);
    if (!node) throw new Error(`node ${id} is not running`);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') node.stopping = true;
    node.child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') {
      await node.exited;
      this.running.delete(id);
    }
  }

  async restart(id: number): Promise<void> {
    if (this.running.has(id)) await this.signal(id, 'SIGTERM');
    this.startNode(id);
  }

  async status(id: number, timeoutMs = 1_000): Promise<NodeStatusReply> {
    return fetchStatus(this.address(id), timeoutMs);
  }

  /** Waits for a leader a majority follows (other than `except`, if given) and returns its id. */
  async waitForLeader(timeoutMs = 20_000, except?: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const statuses = await Promise.all(
        [...this.running.keys()].map((id) => this.status(id, 500).catch(() => undefined)),
      );
      // A leader a majority follows (a deposed one cut off from the others may still think it leads).
      for (const leader of statuses) {
        if (leader?.role !== 'leader' || leader.nodeId === except) continue;
        const agreeing = statuses.filter((s) => s?.leaderId === leader.nodeId && s.term === leader.term).length;
        if (agreeing > this.ids.length / 2) return leader.nodeId;
      }
      last = JSON.stringify(statuses.map((s) => s && { id: s.nodeId, role: s.role, term: s.term, leader: s.leaderId }));
      await sleep(100);
    }
    throw new Error(`no leader within ${timeoutMs} ms; last statuses: ${last}\n${this.describeUnexpectedExits() || this.logTails()}`);
  }

  /** Waits until every running node has applied at least `index`. */
  async waitForApplied(index: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const statuses = await Promise.all(
        [...this.running.keys()].map((id) => this.status(id, 500).catch(() => undefined)),
      );
      if (statuses.every((s) => s !== undefined && s.appliedIndex >= index)) return;
      await sleep(100);
    }
    throw new Error(`not every node applied ${index} within ${timeoutMs} ms\n${this.describeUnexpectedExits() || this.logTails()}`);
  }

  logTail(id: number, lines = 15): string {
    const file = this.logPath(id);
    return existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '';
  }

  logTails(lines = 15): string {
    return this.ids.map((id) => `--- n${id} ---\n${this.logTail(id, lines)}`).join('\n');
  }

  /** A readable account of unexpectedExits, for an assertion message. */
  describeUnexpectedExits(): string {
    return this.unexpectedExits
      .map((e) => `n${e.id} exited on its own (code ${e.code}, signal ${e.signal}); its log ends:\n${e.logTail}`)
      .join('\n');
  }

  async close(): Promise<void> {
    liveClusters.delete(this);
    await Promise.all(
      [...this.running.values()].map(async (node) => {
        node.stopping = true;
        node.child.kill('SIGCONT');
        node.child.kill('SIGKILL');
        await node.exited;
        node.log.end();
      }),
    );
    this.running.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** For process-exit cleanup: synchronous kill of every child this cluster started. */
  killAllNow(): void {
    for (const node of this.running.values()) node.child.kill('SIGKILL');
  }
}

const liveClusters = new Set<TestCluster>();
process.once('exit', () => {
  for (const cluster of liveClusters) cluster.killAllNow();
});

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * A base port B for `sessionraft cluster` with B..B+2 free and B+1000..B+1002 free (the nodes'
 * HTTP ports), away from the default 7001-7003 and 8001-8003.
 */
export async function freeClusterBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const free = await Promise.all([0, 1, 2, 1000, 1001, 1002].map((i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no base port with three free ports after it (and at +1000) found in 50 tries');
}

/** Runs the built CLI and waits for it (60 s at most). */
export function runCli(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
