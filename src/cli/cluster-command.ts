/**
 * `sessionraft cluster`: a local cluster of N nodes on one machine, for trying sessionraft out
 * and for tests. Each node is a real process with its own data folder; pids are recorded in
 * <data-dir>/nK/node.pid and only those pids are ever signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clientConnectionFromFlags } from './client-connection.js';
import { clusterProblem, fetchStatuses, formatStatusTable, type NodeStatusReply } from './admin.js';
import { integerFlag, UsageError } from './args.js';
import { prettyLogFormatter } from './logger.js';

const ACTIONS = ['run', 'up', 'down', 'status', 'kill', 'restart'] as const;
type Action = (typeof ACTIONS)[number];

export function clusterHelp(): string {
  return [
    'Usage: sessionraft cluster <action> [node] [options] [-- node flags]',
    '',
    'Actions:',
    '  run               start the nodes in the foreground, stream their logs, stop them on Ctrl-C',
    '  up                start the nodes in the background (logs in <data-dir>/nK/node.log)',
    '  down              stop every node (SIGTERM: a leader hands off first), then SIGKILL after 15 s',
    '  status            print every node\'s role, term, leader, commit and applied index;',
    '                    exits 1 when a node does not answer or there is no leader (--json: raw replies)',
    '  kill K            send a signal to node K (--signal KILL|TERM|STOP|CONT, default KILL)',
    '  restart K         stop node K if it runs, then start it in the background (under a',
    '                    running `cluster run`, that process still stops it on Ctrl-C)',
    '',
    'Options:',
    '  --nodes N         number of nodes (default 3)',
    '  --host H          loopback address to bind (default 127.0.0.1)',
    '  --base-port P     node K listens on P+K-1 (default 7001)',
    '  --http-base-port H',
    '                    node K serves GET /metrics, /healthz, /readyz on H+K-1',
    '                    (default: base port + 1000, so 8001-8003; 0: no HTTP)',
    '  --data-dir DIR    where nK/ folders live (default ./data)',
    '  --cluster-id ID   (default "local")',
    '  --signal S        for kill',
    '  --timeout-ms T    how long up/run wait for a leader (default 20000)',
    '  --json            for status',
    '  --tls-dir DIR     TLS for clients and mutual TLS between the nodes, with the certificates',
    '                    of scripts/make-certs.sh (make certs): DIR/ca.crt, node-K.crt/.key, client.crt/.key',
    '',
    'Anything after -- is passed to every node (see sessionraft node --help), e.g.',
    '  sessionraft cluster up -- --durability async --tick-ms 50',
  ].join('\n');
}

interface ClusterLayout {
  readonly nodes: number;
  readonly host: string;
  readonly basePort: number;
  /** Node K's operations HTTP port is httpBasePort+K-1; 0: no HTTP. */
  readonly httpBasePort: number;
  readonly dataDir: string;
  readonly clusterId: string;
  readonly nodeArgs: readonly string[];
  /** --tls-dir: certificates of scripts/make-certs.sh; none: plaintext. */
  readonly tlsDir?: string;
}

const mainScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

function address(layout: ClusterLayout, id: number): string {
  return `${layout.host}:${layout.basePort + id - 1}`;
}

function httpAddress(layout: ClusterLayout, id: number): string | undefined {
  return layout.httpBasePort === 0 ? undefined : `${layout.host}:${layout.httpBasePort + id - 1}`;
}

function nodeDir(layout: ClusterLayout, id: number): string {
  return path.join(layout.dataDir, `n${id}`);
}

function pidFile(layout: ClusterLayout, id: number): string {
  return path.join(nodeDir(layout, id), 'node.pid');
}

function ids(layout: ClusterLayout): number[] {
  return Array.from({ length: layout.nodes }, (_, i) => i + 1);
}

function nodeCommandArgs(layout: ClusterLayout, id: number, logFormat: 'json' | 'pretty'): string[] {
  const peers = ids(layout)
    .map((k) => `${k}=${address(layout, k)}`)
    .join(',');
  return [
    mainScript,
    'node',
    '--id', String(id),
    '--peers', peers,
    '--data-dir', path.join(nodeDir(layout, id), 'store'),
    '--cluster-id', layout.clusterId,
    '--log-format', logFormat,
    ...(httpAddress(layout, id) ? ['--http-listen', httpAddress(layout, id)!] : []),
    ...(layout.tlsDir === undefined
      ? []
      : [
          '--tls-cert', path.join(layout.tlsDir, `node-${id}.crt`),
          '--tls-key', path.join(layout.tlsDir, `node-${id}.key`),
          '--tls-ca', path.join(layout.tlsDir, 'ca.crt'),
        ]),
    ...layout.nodeArgs,
  ];
}

/** The recorded pid of node `id`, if that process is alive and still a sessionraft node. */
export function runningPid(layout: ClusterLayout, id: number): number | undefined {
  const file = pidFile(layout, id);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes('main.js') || !cmdline.includes('node')) return undefined;
  } catch {
    return undefined;
  }
  return processAlive(pid) ? pid : undefined;
}

/**
 * Alive and not a zombie: a detached node is reparented when `cluster up` exits, and not every
 * init reaps at once, so a killed node can linger as a zombie that still answers kill(pid, 0).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
  } catch {
    return false;
  }
}

function startDetached(layout: ClusterLayout, id: number): number {
  const dir = nodeDir(layout, id);
  mkdirSync(dir, { recursive: true });
  const log = openSync(path.join(dir, 'node.log'), 'a');
  const child = spawn(process.execPath, nodeCommandArgs(layout, id, 'json'), {
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  child.unref();
  writeFileSync(pidFile(layout, id), `${child.pid}\n`);
  return child.pid!;
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await sleep(50);
  }
  return false;
}

/**
 * Removes node `id`'s pid file only if it still records `pid`: `cluster restart` may have
 * recorded a newer process there, whose file must stay.
 */
function removePidFile(layout: ClusterLayout, id: number, pid: number): void {
  const file = pidFile(layout, id);
  try {
    if (Number(readFileSync(file, 'utf8').trim()) === pid) unlinkSync(file);
  } catch {
    // already gone
  }
}

/** Sends `signal` to `pid` if it is still node `id`'s recorded, live process; false if it was not. */
function signalNode(layout: ClusterLayout, id: number, pid: number, signal: NodeJS.Signals): boolean {
  if (runningPid(layout, id) !== pid) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

async function stopNode(layout: ClusterLayout, id: number): Promise<void> {
  const pid = runningPid(layout, id);
  if (pid === undefined) return;
  process.kill(pid, 'SIGCONT'); // a SIGSTOPped node cannot handle SIGTERM
  process.kill(pid, 'SIGTERM');
  if (!(await waitForExit(pid, 15_000))) {
    console.error(`node ${id} (pid ${pid}) did not stop in 15 s; sending SIGKILL`);
    process.kill(pid, 'SIGKILL');
    if (!(await waitForExit(pid, 5_000))) throw new Error(`node ${id} (pid ${pid}) still runs after SIGKILL; its pid file stays`);
  }
  removePidFile(layout, id, pid);
}

async function statusRows(layout: ClusterLayout): Promise<{ address: string; status?: NodeStatusReply; error?: string }[]> {
  const addresses = ids(layout).map((id) => address(layout, id));
  // With --tls-dir, as the client of make certs (client.crt).
  const connection = layout.tlsDir === undefined ? {} : clientConnectionFromFlags({ 'tls-dir': layout.tlsDir });
  return fetchStatuses(addresses, 1_000, connection);
}

/** Polls until a majority agrees on a leader that reports itself as leader. */
async function waitForLeader(layout: ClusterLayout, timeoutMs: number): Promise<NodeStatusReply> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no node answered';
  while (Date.now() < deadline) {
    const rows = await statusRows(layout);
    const leader = rows.find((r) => r.status?.role === 'leader')?.status;
    if (leader) {
      const agreeing = rows.filter((r) => r.status?.leaderId === leader.nodeId).length;
      if (agreeing > layout.nodes / 2) return leader;
      last = `leader ${leader.nodeId} known to ${agreeing} of ${layout.nodes} nodes`;
    } else {
      last = `${rows.filter((r) => r.status).length} of ${layout.nodes} nodes answer, no leader yet`;
    }
    await sleep(200);
  }
  throw new Error(`no leader within ${timeoutMs} ms (${last})`);
}

function connectHint(layout: ClusterLayout, leaderId: number): string {
  const endpoints = ids(layout)
    .map((id) => address(layout, id))
    .join(',');
  const tls = layout.tlsDir === undefined ? '' : ` --tls-dir ${layout.tlsDir}`;
  return [
    `Connect: endpoints ${endpoints} (writes go to the leader, ${address(layout, leaderId)}; a follower answers with its address)`,
    `  grpcurl ${layout.tlsDir === undefined ? '-plaintext' : `-cacert ${path.join(layout.tlsDir, 'ca.crt')}`} -d '{"client_id":"alice","transport":"http","data_json":"{\\"cart\\":[]}"}' ${address(layout, leaderId)} sessionraft.v1.SessionService/Create`,
    `  node ${path.relative(process.cwd(), mainScript)} session create alice --data '{"cart":[]}' --endpoints ${endpoints}${tls}`,
    `  node ${path.relative(process.cwd(), mainScript)} status --endpoints ${endpoints}${tls}`,
    ...(layout.httpBasePort === 0
      ? []
      : [
          `Metrics and probes: http://${httpAddress(layout, 1)}/metrics, /healthz, /readyz (node K on port ${layout.httpBasePort}+K-1)`,
        ]),
  ].join('\n');
}

/** New complete lines of a growing log file, from `offset` on. */
class LogTail {
  private rest = '';
  constructor(
    private readonly file: string,
    private offset: number,
  ) {}

  lines(): string[] {
    let size: number;
    try {
      size = statSync(this.file).size;
    } catch {
      return [];
    }
    if (size <= this.offset) return [];
    const buffer = Buffer.alloc(Math.min(size - this.offset, 1 << 20));
    const fd = openSync(this.file, 'r');
    try {
      this.offset += readSync(fd, buffer, 0, buffer.length, this.offset);
    } finally {
      closeSync(fd);
    }
    const parts = (this.rest + buffer.toString('utf8')).split('\n');
    this.rest = parts.pop() ?? '';
    return parts;
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Prints a line of node K's output pretty, each printed line (an error's stack adds some) prefixed `nK | `. */
function nodeLinePrinter(): (id: number, line: string) => void {
  const pretty = prettyLogFormatter();
  return (id, line) => {
    for (const part of pretty(line).split('\n')) console.log(`n${id} | ${part}`);
  };
}

/** How often `cluster run` looks for nodes that `cluster restart` started, and for the end. */
const RUN_WATCH_INTERVAL_MS = 250;

/**
 * `cluster run`: the nodes are this process's children, in its process group, so a terminal's
 * Ctrl-C reaches them and this process. `cluster restart K` (another process) starts node K
 * detached, outside that group: this process finds such a node through its pid file, streams its
 * node.log, and stops it with the others on Ctrl-C (or SIGTERM, SIGHUP). It ends once every node
 * is stopped, also when `cluster down` stopped them: 0 if they all exited cleanly, else 1. A pid
 * file is removed only while it still records the process that exited.
 */
async function runForeground(layout: ClusterLayout, timeoutMs: number): Promise<void> {
  const print = nodeLinePrinter();
  for (const id of ids(layout)) {
    if (runningPid(layout, id) !== undefined) {
      throw new UsageError(`node ${id} is already running (see 'sessionraft cluster status'; stop it with 'cluster down')`);
    }
  }
  const children = new Map<number, ChildProcess>();
  /** Nodes that `cluster restart` started while this runs: id → pid and its log. */
  const adopted = new Map<number, { pid: number; tail: LogTail }>();
  const logSizes = new Map<number, number>();
  let unclean = false;
  let stopping = false;
  for (const id of ids(layout)) {
    mkdirSync(nodeDir(layout, id), { recursive: true });
    logSizes.set(id, fileSize(path.join(nodeDir(layout, id), 'node.log')));
    const child = spawn(process.execPath, nodeCommandArgs(layout, id, 'json'), { stdio: ['ignore', 'pipe', 'pipe'] });
    writeFileSync(pidFile(layout, id), `${child.pid}\n`);
    children.set(id, child);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => print(id, line));
    }
    child.on('exit', (code, signal) => {
      console.log(`n${id} | exited (${signal ?? `code ${code}`})`);
      children.delete(id);
      removePidFile(layout, id, child.pid!);
      if (!stopping && code !== 0) unclean = true;
    });
  }

  /** Adopts nodes restarted outside this process, streams their logs, forgets the ones that ended. */
  const watchNodes = (): void => {
    for (const id of ids(layout)) {
      const logFile = path.join(nodeDir(layout, id), 'node.log');
      const pid = runningPid(layout, id);
      if (pid !== undefined && pid !== children.get(id)?.pid && adopted.get(id)?.pid !== pid) {
        // Read from the log's size at the previous look: the lines it wrote since it started.
        adopted.set(id, { pid, tail: new LogTail(logFile, logSizes.get(id) ?? fileSize(logFile)) });
        console.log(`n${id} | restarted outside this process as pid ${pid} (log ${logFile}); Ctrl-C stops it too`);
        if (stopping) signalNode(layout, id, pid, 'SIGTERM');
      }
      const node = adopted.get(id);
      if (node) for (const line of node.tail.lines()) print(id, line);
      if (node && !processAlive(node.pid)) {
        console.log(`n${id} | pid ${node.pid} exited`);
        adopted.delete(id);
        removePidFile(layout, id, node.pid);
      }
      if (!adopted.has(id)) logSizes.set(id, fileSize(logFile));
    }
  };
  let idleChecks = 0;
  const watch = setInterval(() => {
    watchNodes();
    // Two looks in a row with nothing running: a restart's gap between stop and start is shorter.
    idleChecks = children.size === 0 && adopted.size === 0 ? idleChecks + 1 : 0;
    if (idleChecks >= 2) {
      clearInterval(watch);
      if (stopping) console.log('cluster stopped');
      process.exit(unclean && !stopping ? 1 : 0);
    }
  }, RUN_WATCH_INTERVAL_MS);

  const stopAll = (): void => {
    if (stopping) return;
    stopping = true;
    console.log('stopping the cluster...');
    watchNodes(); // a node restarted since the last look is stopped too
    for (const child of children.values()) child.kill('SIGTERM');
    for (const [id, { pid }] of adopted) {
      signalNode(layout, id, pid, 'SIGCONT'); // a SIGSTOPped node cannot handle SIGTERM
      signalNode(layout, id, pid, 'SIGTERM');
    }
    const force = setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL');
      for (const [id, { pid }] of adopted) signalNode(layout, id, pid, 'SIGKILL');
    }, 15_000);
    force.unref();
  };
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
  process.on('SIGHUP', stopAll);
  const leader = await waitForLeader(layout, timeoutMs);
  console.log(`\nleader: node ${leader.nodeId} (term ${leader.term})\n${formatStatusTable(await statusRows(layout))}`);
  console.log(`\n${connectHint(layout, leader.nodeId)}\nPress Ctrl-C to stop the cluster.\n`);
}

function parseCluster(args: string[]): { action: Action; target?: number; layout: ClusterLayout; signal: string; timeoutMs: number; json: boolean } {
  const dashDash = args.indexOf('--');
  const own = dashDash >= 0 ? args.slice(0, dashDash) : args;
  const nodeArgs = dashDash >= 0 ? args.slice(dashDash + 1) : [];
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    strict: true,
    options: {
      nodes: { type: 'string' },
      host: { type: 'string' },
      'base-port': { type: 'string' },
      'http-base-port': { type: 'string' },
      'data-dir': { type: 'string' },
      'cluster-id': { type: 'string' },
      signal: { type: 'string' },
      'timeout-ms': { type: 'string' },
      json: { type: 'boolean' },
      'tls-dir': { type: 'string' },
    },
  });
  const action = positionals[0] as Action | undefined;
  if (!action || !ACTIONS.includes(action)) {
    throw new UsageError(`expected an action (${ACTIONS.join(', ')}), got '${action ?? ''}'`);
  }
  const nodes = integerFlag('nodes', values.nodes, 1, 9) ?? 3;
  const basePort = integerFlag('base-port', values['base-port'], 1, 65_536 - nodes) ?? 7001;
  const httpBasePort = integerFlag('http-base-port', values['http-base-port'], 0, 65_536 - nodes) ?? basePort + 1000;
  if (httpBasePort > 0 && httpBasePort + nodes > 65_536) {
    throw new UsageError(`--http-base-port: the default (--base-port + 1000 = ${httpBasePort}) leaves no room for ${nodes} ports; give one, or 0`);
  }
  const layout: ClusterLayout = {
    nodes,
    host: values.host ?? '127.0.0.1',
    basePort,
    httpBasePort,
    dataDir: path.resolve(values['data-dir'] ?? 'data'),
    clusterId: values['cluster-id'] ?? 'local',
    nodeArgs,
    ...(values['tls-dir'] !== undefined ? { tlsDir: path.resolve(values['tls-dir']) } : {}),
  };
  if (layout.tlsDir !== undefined && !existsSync(path.join(layout.tlsDir, 'ca.crt'))) {
    throw new UsageError(`--tls-dir: no ca.crt in ${layout.tlsDir} (make certs creates one)`);
  }
  if (!layout.host.startsWith('127.')) throw new UsageError(`--host: a local cluster binds loopback only (127.x.y.z), got '${layout.host}'`);
  let target: number | undefined;
  if (action === 'kill' || action === 'restart') {
    target = /^\d+$/.test(positionals[1] ?? '') ? Number(positionals[1]) : NaN;
    if (!Number.isInteger(target) || target < 1 || target > layout.nodes) {
      throw new UsageError(`${action}: expected a node number 1-${layout.nodes}, got '${positionals[1] ?? ''}'`);
    }
  }
  const signal = (values.signal ?? 'KILL').toUpperCase().replace(/^SIG/, '');
  if (!['KILL', 'TERM', 'STOP', 'CONT', 'INT'].includes(signal)) throw new UsageError(`--signal: unsupported '${values.signal}'`);
  const timeoutMs = integerFlag('timeout-ms', values['timeout-ms'], 1, 3_600_000) ?? 20_000;
  if (values.json && action !== 'status') throw new UsageError(`--json: only for status, not ${action}`);
  return { action, ...(target ? { target } : {}), layout, signal, timeoutMs, json: values.json === true };
}

export async function runCluster(args: string[]): Promise<void> {
  const { action, target, layout, signal, timeoutMs, json } = parseCluster(args);
  switch (action) {
    case 'run':
      return runForeground(layout, timeoutMs);
    case 'up': {
      for (const id of ids(layout)) {
        const pid = runningPid(layout, id) ?? startDetached(layout, id);
        const http = httpAddress(layout, id);
        console.log(`node ${id}: pid ${pid}, ${address(layout, id)}${http ? `, http ${http}` : ''}, log ${path.join(nodeDir(layout, id), 'node.log')}`);
      }
      const leader = await waitForLeader(layout, timeoutMs);
      console.log(`\nleader: node ${leader.nodeId}\n${formatStatusTable(await statusRows(layout))}\n\n${connectHint(layout, leader.nodeId)}`);
      return;
    }
    case 'down':
      await Promise.all(ids(layout).map((id) => stopNode(layout, id)));
      console.log('cluster stopped');
      return;
    case 'status': {
      const rows = await statusRows(layout);
      console.log(json ? JSON.stringify(rows, null, 2) : formatStatusTable(rows));
      const problem = clusterProblem(rows);
      if (problem !== undefined) {
        console.error(`sessionraft: unhealthy: ${problem}`);
        process.exitCode = 1;
      }
      return;
    }
    case 'kill': {
      const pid = runningPid(layout, target!);
      if (pid === undefined) throw new UsageError(`node ${target} is not running`);
      process.kill(pid, `SIG${signal}` as NodeJS.Signals);
      if (signal === 'KILL' && (await waitForExit(pid, 5_000))) removePidFile(layout, target!, pid);
      console.log(`node ${target}: sent SIG${signal} to pid ${pid}`);
      return;
    }
    case 'restart': {
      await stopNode(layout, target!);
      const pid = startDetached(layout, target!);
      console.log(`node ${target}: restarted as pid ${pid}`);
      return;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
