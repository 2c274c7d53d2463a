/**
 * `sessionraft cluster`: a local cluster of N nodes on one machine, for trying sessionraft out
 * and for tests. Each node is a real process with its own data folder; pids are recorded in
 * <data-dir>/nK/node.pid and only those pids are ever signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SessionClient } from '../client/index.js';
import { fetchStatus, formatStatusTable, type NodeStatusReply } from './admin.js';
import { formatLogLine } from './log-format.js';
import { UsageError } from './node-command.js';

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
    '  status            print every node\'s role, term, leader, commit and applied index',
    '  kill K            send a signal to node K (--signal KILL|TERM|STOP|CONT, default KILL)',
    '  restart K         stop node K if it runs, then start it in the background',
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

async function stopNode(layout: ClusterLayout, id: number): Promise<void> {
  const pid = runningPid(layout, id);
  if (pid === undefined) return;
  process.kill(pid, 'SIGCONT'); // a SIGSTOPped node cannot handle SIGTERM
  process.kill(pid, 'SIGTERM');
  if (!(await waitForExit(pid, 15_000))) {
    console.error(`node ${id} (pid ${pid}) did not stop in 15 s; sending SIGKILL`);
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5_000);
  }
  rmSync(pidFile(layout, id), { force: true });
}

async function statusRows(layout: ClusterLayout): Promise<{ address: string; status?: NodeStatusReply; error?: string }[]> {
  return Promise.all(
    ids(layout).map(async (id) => {
      const addr = address(layout, id);
      try {
        const status = layout.tlsDir === undefined ? await fetchStatus(addr, 1_000) : await fetchStatusTls(addr, layout.tlsDir, 1_000);
        return { address: addr, status };
      } catch (error) {
        return { address: addr, error: (error as Error).message.split('\n')[0] };
      }
    }),
  );
}

/** fetchStatus over TLS, as the client of --tls-dir (client.crt). */
async function fetchStatusTls(address: string, tlsDir: string, timeoutMs: number): Promise<NodeStatusReply> {
  const read = (file: string): Buffer => readFileSync(path.join(tlsDir, file));
  const client = await SessionClient.connect({
    endpoints: [address],
    connectTimeoutMs: timeoutMs,
    retriesMax: 0,
    tls: { ca: read('ca.crt'), cert: read('client.crt'), key: read('client.key') },
  });
  try {
    return await client.status(address, { deadlineMs: timeoutMs });
  } finally {
    client.close();
  }
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
  return [
    `Connect: endpoints ${endpoints} (writes go to the leader, ${address(layout, leaderId)}; a follower answers with its address)`,
    `  grpcurl ${layout.tlsDir === undefined ? '-plaintext' : `-cacert ${path.join(layout.tlsDir, 'ca.crt')}`} -d '{"client_id":"alice","transport":"http","data_json":"{\\"cart\\":[]}"}' ${address(layout, leaderId)} sessionraft.v1.SessionService/Create`,
    `  node ${path.relative(process.cwd(), mainScript)} status --endpoints ${endpoints}`,
    ...(layout.httpBasePort === 0
      ? []
      : [
          `Metrics and probes: http://${httpAddress(layout, 1)}/metrics, /healthz, /readyz (node K on port ${layout.httpBasePort}+K-1)`,
        ]),
  ].join('\n');
}

async function runForeground(layout: ClusterLayout, timeoutMs: number): Promise<void> {
  for (const id of ids(layout)) {
    if (runningPid(layout, id) !== undefined) {
      throw new UsageError(`node ${id} is already running (see 'sessionraft cluster status'; stop it with 'cluster down')`);
    }
  }
  const children = new Map<number, ChildProcess>();
  let stopping = false;
  for (const id of ids(layout)) {
    mkdirSync(nodeDir(layout, id), { recursive: true });
    const child = spawn(process.execPath, nodeCommandArgs(layout, id, 'json'), { stdio: ['ignore', 'pipe', 'pipe'] });
    writeFileSync(pidFile(layout, id), `${child.pid}\n`);
    children.set(id, child);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => console.log(`n${id} | ${formatLogLine(line)}`));
    }
    child.on('exit', (code, signal) => {
      console.log(`n${id} | exited (${signal ?? `code ${code}`})`);
      children.delete(id);
      if (!stopping && children.size === 0) process.exit(1);
    });
  }
  const stopAll = (): void => {
    if (stopping) return;
    stopping = true;
    console.log('stopping the cluster...');
    for (const child of children.values()) child.kill('SIGTERM');
    const force = setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL');
    }, 15_000);
    force.unref();
    const check = setInterval(() => {
      if (children.size === 0) {
        clearInterval(check);
        for (const id of ids(layout)) rmSync(pidFile(layout, id), { force: true });
        process.exit(0);
      }
    }, 50);
  };
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
  const leader = await waitForLeader(layout, timeoutMs);
  console.log(`\nleader: node ${leader.nodeId} (term ${leader.term})\n${formatStatusTable(await statusRows(layout))}`);
  console.log(`\n${connectHint(layout, leader.nodeId)}\nPress Ctrl-C to stop the cluster.\n`);
}

function parseCluster(args: string[]): { action: Action; target?: number; layout: ClusterLayout; signal: string; timeoutMs: number } {
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
      'tls-dir': { type: 'string' },
    },
  });
  const action = positionals[0] as Action | undefined;
  if (!action || !ACTIONS.includes(action)) {
    throw new UsageError(`expected an action (${ACTIONS.join(', ')}), got '${action ?? ''}'`);
  }
  const basePort = Number(values['base-port'] ?? 7001);
  const layout: ClusterLayout = {
    nodes: Number(values.nodes ?? 3),
    host: values.host ?? '127.0.0.1',
    basePort,
    httpBasePort: Number(values['http-base-port'] ?? basePort + 1000),
    dataDir: path.resolve(values['data-dir'] ?? 'data'),
    clusterId: values['cluster-id'] ?? 'local',
    nodeArgs,
    ...(values['tls-dir'] !== undefined ? { tlsDir: path.resolve(values['tls-dir']) } : {}),
  };
  if (layout.tlsDir !== undefined && !existsSync(path.join(layout.tlsDir, 'ca.crt'))) {
    throw new UsageError(`--tls-dir: no ca.crt in ${layout.tlsDir} (make certs creates one)`);
  }
  if (!Number.isInteger(layout.nodes) || layout.nodes < 1 || layout.nodes > 9) {
    throw new UsageError(`--nodes: expected 1-9, got '${values.nodes}'`);
  }
  if (!Number.isInteger(layout.basePort) || layout.basePort < 1 || layout.basePort + layout.nodes > 65_536) {
    throw new UsageError(`--base-port: expected a port, got '${values['base-port']}'`);
  }
  const http = layout.httpBasePort;
  if (!Number.isInteger(http) || http < 0 || (http > 0 && http + layout.nodes > 65_536)) {
    throw new UsageError(`--http-base-port: expected a port or 0, got '${values['http-base-port'] ?? http}'`);
  }
  if (!layout.host.startsWith('127.')) throw new UsageError(`--host: a local cluster binds loopback only (127.x.y.z), got '${layout.host}'`);
  let target: number | undefined;
  if (action === 'kill' || action === 'restart') {
    target = Number(positionals[1]);
    if (!Number.isInteger(target) || target < 1 || target > layout.nodes) {
      throw new UsageError(`${action}: expected a node number 1-${layout.nodes}, got '${positionals[1] ?? ''}'`);
    }
  }
  const signal = (values.signal ?? 'KILL').toUpperCase().replace(/^SIG/, '');
  if (!['KILL', 'TERM', 'STOP', 'CONT', 'INT'].includes(signal)) throw new UsageError(`--signal: unsupported '${values.signal}'`);
  return { action, ...(target ? { target } : {}), layout, signal, timeoutMs: Number(values['timeout-ms'] ?? 20_000) };
}

export async function runCluster(args: string[]): Promise<void> {
  const { action, target, layout, signal, timeoutMs } = parseCluster(args);
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
    case 'status':
      console.log(formatStatusTable(await statusRows(layout)));
      return;
    case 'kill': {
      const pid = runningPid(layout, target!);
      if (pid === undefined) throw new UsageError(`node ${target} is not running`);
      process.kill(pid, `SIG${signal}` as NodeJS.Signals);
      if (signal === 'KILL') {
        await waitForExit(pid, 5_000);
        unlinkSync(pidFile(layout, target!));
      }
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
