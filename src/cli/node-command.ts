/**
 * `sessionraft node`: runs one node. Configuration comes from flags, then SESSIONRAFT_* environment
 * variables, then a JSON config file (--config), then defaults; the first one set wins.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { NODE_DEFAULTS, blockPeers, openNodeOnDisk, resolveNodeOptions, watchFaultFile, type NodeOptions } from '../node/index.js';
import type { NodeId } from '../raft/index.js';
import { formatListenAddress, nodeOpsSource, parseListenAddress, startOpsServer, type ListenAddress, type OpsServer } from '../http/index.js';
import { checkClientToken, createAccessControl, createRequestCounter, registerSessionServices, resolveSessionApiOptions } from '../server/index.js';
import { NodeServerCredentials, NodeTls, checkClusterSecret, transportServerOptions, type PeerSecurity } from '../transport/index.js';
import { WATCH_DEFAULTS, WatchHub, resolveWatchOptions, type WatchOptions } from '../watch/index.js';
import { createNodeLogger, type LogFormat } from './logger.js';
import { CLUSTER_ID_DEFAULT, planStart, runMembershipDuties, type StartFlags } from './node-start.js';
import { checkNodeCertificate, readTlsFiles, watchTlsFiles, type TlsPaths } from './tls-files.js';

const FLAGS = {
  config: { type: 'string', help: 'JSON file with any of these options (camelCase keys or flag names)' },
  id: { type: 'string', help: 'this node id, a positive integer (required)' },
  listen: { type: 'string', help: 'host:port to serve clients and peers on; also this member\'s address in the cluster (default: this id in --peers)' },
  peers: { type: 'string', help: 'a NEW cluster\'s members, this node included: "1=127.0.0.1:7001,2=127.0.0.1:7002,..." (only for an empty --data-dir)' },
  join: { type: 'string', help: 'join a running cluster through any of its nodes: host:port,... (only for an empty --data-dir)' },
  'data-dir': { type: 'string', help: 'where the log, state and snapshots live (required); a node with data needs neither --peers nor --join' },
  'cluster-id': { type: 'string', help: 'a new cluster\'s id (default "sessionraft"); with data or --join it must match the cluster\'s' },
  'no-auto-promote': { type: 'boolean', help: 'a joining learner waits for `sessionraft admin promote` instead of asking once caught up' },
  'promote-after-ms': { type: 'string', help: 'a learner asks to be promoted after being caught up this long (default 2000)' },
  'promote-lag-entries': { type: 'string', help: `a learner counts as caught up within this many entries of the leader (default ${NODE_DEFAULTS.promoteLagEntriesMax})` },
  durability: { type: 'string', help: `default write durability: sync | async (default ${NODE_DEFAULTS.defaultDurability})` },
  'tick-ms': { type: 'string', help: `Raft tick (default ${NODE_DEFAULTS.tickIntervalMs})` },
  'election-ticks': { type: 'string', help: `election timeout in ticks (default ${NODE_DEFAULTS.electionTimeoutTicks})` },
  'heartbeat-ticks': { type: 'string', help: `heartbeat interval in ticks (default ${NODE_DEFAULTS.heartbeatIntervalTicks})` },
  'snapshot-entries': { type: 'string', help: `snapshot + compact after this many entries (default ${NODE_DEFAULTS.snapshotEntriesThreshold})` },
  'ttl-ms': { type: 'string', help: `default idle TTL of a session (default ${NODE_DEFAULTS.defaultTtlMs})` },
  'sweep-ms': { type: 'string', help: `expiry sweep interval (default ${NODE_DEFAULTS.expirySweepIntervalMs})` },
  'data-bytes-max': { type: 'string', help: `size limit of a session's data (default ${NODE_DEFAULTS.dataBytesMax})` },
  'request-timeout-ms': { type: 'string', help: `deadline of a request without one (default ${NODE_DEFAULTS.requestTimeoutMs})` },
  'log-level': { type: 'string', help: 'trace | debug | info | warn | error (default info)' },
  'log-format': { type: 'string', help: 'json | pretty (default: pretty on a terminal, json otherwise)' },
  'http-listen': { type: 'string', help: 'host:port to serve GET /metrics, /healthz and /readyz over HTTP on (default: none, no HTTP)' },
  'tls-cert': { type: 'string', help: 'PEM certificate of this node (subject CN node-<id>): TLS for clients, mutual TLS between peers (with --tls-key, --tls-ca)' },
  'tls-key': { type: 'string', help: 'PEM private key of --tls-cert' },
  'tls-ca': { type: 'string', help: 'PEM cluster CA: peers must present a certificate it signed, naming their node id' },
  'tls-reload-ms': { type: 'string', help: 'read the TLS files again this often, taking them if they changed (default 60000; 0: only on SIGHUP)' },
  'cluster-secret-file': { type: 'string', help: 'file holding a secret (16+ printable characters) every peer call must carry; for clusters without TLS' },
  'client-token-file': { type: 'string', help: "file holding a token (16+ printable characters): client calls must send 'authorization: Bearer <token>'" },
  'requests-max': { type: 'string', help: 'unary client calls in flight at once; past it RESOURCE_EXHAUSTED (default 4096)' },
  'streams-max': { type: 'string', help: 'client streams (Batch) open at once; past it RESOURCE_EXHAUSTED (default 1024)' },
  'stream-unsent-bytes-max': {
    type: 'string',
    help: 'results a Batch stream keeps for a client that does not read them; reads past it RESOURCE_EXHAUSTED (default 16 MiB)',
  },
  'watch-ring-events-max': { type: 'string', help: `changes kept for Watch streams to start or resume from (default ${WATCH_DEFAULTS.ringEventsMax})` },
  'watch-ring-bytes-max': { type: 'string', help: `about this many bytes of them (default ${WATCH_DEFAULTS.ringBytesMax})` },
  'watch-queue-events-max': { type: 'string', help: `per Watch stream: changes waiting for a slow reader; past it RESOURCE_EXHAUSTED (default ${WATCH_DEFAULTS.queueEventsMax})` },
  'watch-streams-max': { type: 'string', help: `Watch streams open at once; past it RESOURCE_EXHAUSTED (default ${WATCH_DEFAULTS.streamsMax})` },
  'fault-file': { type: 'string', help: 'tests only: poll this JSON file for injected network faults, {"blockedPeers":[2,3]}' },
  help: { type: 'boolean', help: 'show this help' },
} as const;

export function nodeHelp(): string {
  const lines = Object.entries(FLAGS).map(([name, flag]) => `  --${name.padEnd(24)} ${flag.help}`);
  return [
    'Usage: sessionraft node --id N --data-dir DIR [--peers 1=host:port,... | --join host:port,...] [options]',
    '',
    'Runs one sessionraft node. Every flag can also be given as an environment variable',
    '(--data-dir → SESSIONRAFT_DATA_DIR) or as a key of the --config JSON file.',
    '',
    ...lines,
    '',
    'Examples:',
    '  # a new three-node cluster: each node once with the same --peers',
    '  sessionraft node --id 1 --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --data-dir data/n1',
    '  # a fourth node joins it (as a learner, promoted once caught up)',
    '  sessionraft node --id 4 --listen 127.0.0.1:7004 --join 127.0.0.1:7001 --data-dir data/n4',
    '  # any node with data restarts from it alone (also under a new --listen address)',
    '  sessionraft node --id 1 --listen 127.0.0.1:7001 --data-dir data/n1',
  ].join('\n');
}

type FlagName = keyof typeof FLAGS;

export class UsageError extends Error {}

function setting(values: Record<string, unknown>, file: Record<string, unknown>, name: FlagName): string | undefined {
  const fromFlag = values[name];
  if (typeof fromFlag === 'string') return fromFlag;
  const fromEnv = process.env[`SESSIONRAFT_${name.toUpperCase().replaceAll('-', '_')}`];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const fromFile = file[name] ?? file[camel];
  return fromFile === undefined ? undefined : String(fromFile);
}

function integer(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name}: expected a non-negative integer, got '${text}'`);
  return Number(text);
}

export function parsePeers(text: string): Map<NodeId, string> {
  const peers = new Map<NodeId, string>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^(\d+)=(.+)$/.exec(part);
    if (!match) throw new UsageError(`--peers: expected id=host:port, got '${part}'`);
    const id = Number(match[1]) as NodeId;
    if (peers.has(id)) throw new UsageError(`--peers: node id ${id} appears twice`);
    peers.set(id, match[2]!);
  }
  if (peers.size === 0) throw new UsageError('--peers: at least this node is required');
  return peers;
}

export interface NodeCommandSettings {
  /** The node's options; clusterId and peers are settled by planStart() from the data directory. */
  readonly options: NodeOptions;
  /** What decides how this node meets its cluster (planStart). */
  readonly start: StartFlags;
  readonly autoPromote: boolean;
  readonly promoteAfterMs: number;
  readonly logLevel: string;
  readonly logFormat: LogFormat;
  /** --fault-file: network fault injection for tests. */
  readonly faultFile?: string;
  /** --http-listen: where the operations HTTP server listens; none when not given. */
  readonly httpListen?: ListenAddress;
  /** --tls-cert/--tls-key/--tls-ca and --cluster-secret-file: who may call the peer service. */
  readonly peerSecurity: PeerSecurity;
  /** Where the TLS files are (read again on SIGHUP and every tlsReloadMs), when TLS is on. */
  readonly tlsPaths?: TlsPaths;
  /** --tls-reload-ms */
  readonly tlsReloadMs: number;
  /** --client-token-file: the bearer token client calls must carry. */
  readonly clientToken?: string;
  /** --requests-max, --streams-max */
  readonly requestsMax?: number;
  readonly streamsMax?: number;
  /** --stream-unsent-bytes-max: the session services' batchUnsentBytesMax. */
  readonly streamUnsentBytesMax?: number;
  /** --watch-*: the bounds of the Watch service. */
  readonly watch: WatchOptions;
}

function readSecretFile(flag: string, file: string, check: (text: string) => string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--${flag} ${file}: ${(error as Error).message}`);
  }
  try {
    return check(text);
  } catch (error) {
    throw new UsageError(`--${flag} ${file}: ${(error as Error).message}`);
  }
}

function readTlsPaths(get: (name: FlagName) => string | undefined): TlsPaths | undefined {
  const paths = { cert: get('tls-cert'), key: get('tls-key'), ca: get('tls-ca') };
  const given = Object.values(paths).filter((f) => f !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) throw new UsageError('--tls-cert, --tls-key and --tls-ca go together');
  return { cert: paths.cert!, key: paths.key!, ca: paths.ca! };
}

export function nodeOptionsFromArgs(args: readonly string[]): NodeCommandSettings {
  const { values } = parseArgs({
    args: [...args],
    options: Object.fromEntries(Object.entries(FLAGS).map(([name, flag]) => [name, { type: flag.type }])),
    strict: true,
    allowPositionals: false,
  });
  const configPath = typeof values.config === 'string' ? values.config : process.env.SESSIONRAFT_CONFIG;
  let file: Record<string, unknown> = {};
  if (configPath) {
    try {
      file = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`--config ${configPath}: ${(error as Error).message}`);
    }
  }
  const get = (name: FlagName): string | undefined => setting(values, file, name);
  const id = integer('id', get('id'));
  const peersText = get('peers');
  const dataDir = get('data-dir');
  if (id === undefined) throw new UsageError('--id is required');
  if (dataDir === undefined) throw new UsageError('--data-dir is required');
  const peers = peersText === undefined ? undefined : parsePeers(peersText);
  const listenAddress = get('listen') ?? peers?.get(id as NodeId);
  if (listenAddress === undefined) throw new UsageError(peers ? `--listen is required when --peers does not name node ${id}` : '--listen is required');
  const joinText = get('join');
  let join: string[] | undefined;
  if (joinText !== undefined) {
    join = joinText.split(',').map((a) => a.trim()).filter(Boolean);
    if (join.length === 0 || join.some((a) => !/^[^\s,]+:\d{1,5}$/.test(a))) throw new UsageError(`--join: expected host:port,..., got '${joinText}'`);
  }
  const durability = get('durability');
  if (durability !== undefined && durability !== 'sync' && durability !== 'async') {
    throw new UsageError(`--durability: expected sync or async, got '${durability}'`);
  }
  const optional = {
    tickIntervalMs: integer('tick-ms', get('tick-ms')),
    electionTimeoutTicks: integer('election-ticks', get('election-ticks')),
    heartbeatIntervalTicks: integer('heartbeat-ticks', get('heartbeat-ticks')),
    snapshotEntriesThreshold: integer('snapshot-entries', get('snapshot-entries')),
    defaultTtlMs: integer('ttl-ms', get('ttl-ms')),
    expirySweepIntervalMs: integer('sweep-ms', get('sweep-ms')),
    dataBytesMax: integer('data-bytes-max', get('data-bytes-max')),
    requestTimeoutMs: integer('request-timeout-ms', get('request-timeout-ms')),
    promoteLagEntriesMax: integer('promote-lag-entries', get('promote-lag-entries')),
    defaultDurability: durability,
  };
  const defined = Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined));
  let options: NodeOptions;
  try {
    options = resolveNodeOptions({
      id: id as NodeId,
      // Placeholders until planStart() reads the data directory (runNode replaces both).
      clusterId: get('cluster-id') ?? CLUSTER_ID_DEFAULT,
      listenAddress,
      peers: peers ?? new Map(),
      dataDir,
      ...defined,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const logFormat = get('log-format') ?? (process.stdout.isTTY ? 'pretty' : 'json');
  if (logFormat !== 'json' && logFormat !== 'pretty') {
    throw new UsageError(`--log-format: expected json or pretty, got '${logFormat}'`);
  }
  const faultFile = get('fault-file');
  const httpListenText = get('http-listen');
  let httpListen: ListenAddress | undefined;
  if (httpListenText !== undefined) {
    try {
      httpListen = parseListenAddress(httpListenText);
    } catch (error) {
      throw new UsageError(`--http-listen: ${(error as Error).message}`);
    }
  }
  const tlsPaths = readTlsPaths(get);
  let tls: NodeTls | undefined;
  try {
    tls = tlsPaths === undefined ? undefined : new NodeTls(readTlsFiles(tlsPaths));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const tlsReloadMs = integer('tls-reload-ms', get('tls-reload-ms')) ?? 60_000;
  const secretFile = get('cluster-secret-file');
  const clusterSecret = secretFile === undefined ? undefined : readSecretFile('cluster-secret-file', secretFile, checkClusterSecret);
  const tokenFile = get('client-token-file');
  const clientToken = tokenFile === undefined ? undefined : readSecretFile('client-token-file', tokenFile, checkClientToken);
  const requestsMax = integer('requests-max', get('requests-max'));
  const streamsMax = integer('streams-max', get('streams-max'));
  if (requestsMax === 0 || streamsMax === 0) throw new UsageError('--requests-max and --streams-max must be at least 1');
  const streamUnsentBytesMax = integer('stream-unsent-bytes-max', get('stream-unsent-bytes-max'));
  if (streamUnsentBytesMax !== undefined) {
    try {
      resolveSessionApiOptions({ dataBytesMax: options.dataBytesMax, batchUnsentBytesMax: streamUnsentBytesMax });
    } catch (error) {
      throw new UsageError(`--stream-unsent-bytes-max: ${(error as Error).message}`);
    }
  }
  const promoteAfterMs = integer('promote-after-ms', get('promote-after-ms'));
  const watch = watchOptions(get);
  return {
    watch,
    options,
    start: {
      id: id as NodeId,
      dataDir,
      listenAddress,
      ...(peers ? { peers } : {}),
      ...(join ? { join } : {}),
      ...(get('cluster-id') !== undefined ? { clusterId: get('cluster-id')! } : {}),
    },
    autoPromote: values['no-auto-promote'] !== true && file['noAutoPromote'] !== true,
    promoteAfterMs: promoteAfterMs ?? 2_000,
    logLevel: get('log-level') ?? 'info',
    logFormat,
    ...(faultFile ? { faultFile } : {}),
    ...(httpListen ? { httpListen } : {}),
    peerSecurity: { ...(tls ? { tls } : {}), ...(clusterSecret !== undefined ? { clusterSecret } : {}) },
    ...(tlsPaths ? { tlsPaths } : {}),
    tlsReloadMs,
    ...(clientToken !== undefined ? { clientToken } : {}),
    ...(requestsMax !== undefined ? { requestsMax } : {}),
    ...(streamsMax !== undefined ? { streamsMax } : {}),
    ...(streamUnsentBytesMax !== undefined ? { streamUnsentBytesMax } : {}),
  };
}

function watchOptions(get: (name: FlagName) => string | undefined): WatchOptions {
  const flags = {
    ringEventsMax: 'watch-ring-events-max',
    ringBytesMax: 'watch-ring-bytes-max',
    queueEventsMax: 'watch-queue-events-max',
    streamsMax: 'watch-streams-max',
  } as const;
  const watch: Record<string, number> = {};
  for (const [key, flag] of Object.entries(flags)) {
    const value = integer(flag, get(flag));
    if (value !== undefined) watch[key] = value;
  }
  try {
    resolveWatchOptions(watch);
  } catch (error) {
    throw new UsageError(`--watch-*: ${(error as Error).message}`);
  }
  return watch;
}

export async function runNode(args: readonly string[]): Promise<void> {
  const settings = nodeOptionsFromArgs(args);
  const { logLevel, logFormat, faultFile, httpListen, peerSecurity } = settings;
  const logger = createNodeLogger({ level: logLevel, format: logFormat, nodeId: settings.options.id });
  const tls = peerSecurity.tls;
  if (tls !== undefined) {
    try {
      checkNodeCertificate(tls.current, settings.options.id);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  // How this node calls its own cluster's API (joining, promotion, a new address).
  const connect = {
    ...(tls ? { tls: { ca: tls.current.ca, cert: tls.current.cert, key: tls.current.key } } : {}),
    ...(settings.clientToken !== undefined ? { token: settings.clientToken } : {}),
  };
  const plan = await planStart(settings.start, connect, logger);
  const options = resolveNodeOptions({ ...settings.options, clusterId: plan.clusterId, peers: plan.peers, peerHints: plan.peerHints });
  const watch = new WatchHub(settings.watch);
  const { node, transport } = await openNodeOnDisk(options, logger, { changes: watch });
  // before start(): every peer call this node makes or accepts is authenticated
  transport.useSecurity(peerSecurity);
  const access = createAccessControl({
    ...(settings.clientToken !== undefined ? { clientToken: settings.clientToken } : {}),
    ...(settings.requestsMax !== undefined ? { requestsMax: settings.requestsMax } : {}),
    ...(settings.streamsMax !== undefined ? { streamsMax: settings.streamsMax } : {}),
  });
  // Peer frames may be up to the transport's message limit; client requests are capped per call
  // by the session services' own validation. The interceptor checks the client token and the
  // request and stream bounds before any handler runs.
  // The request counter first: innermost, it also counts the statuses access control sends.
  const requests = createRequestCounter();
  const server = new grpc.Server({ ...transportServerOptions(), interceptors: [requests.interceptor, access.interceptor] });
  registerSessionServices(server, node, {
    dataBytesMax: options.dataBytesMax,
    defaultTtlMs: options.defaultTtlMs,
    ...(settings.streamUnsentBytesMax !== undefined ? { batchUnsentBytesMax: settings.streamUnsentBytesMax } : {}),
    logger: logger.child({ module: 'server' }),
    watch,
    requestCounter: requests,
  });
  transport.bindTo(server);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(options.listenAddress, tls ? new NodeServerCredentials(tls) : grpc.ServerCredentials.createInsecure(), (error) =>
      error ? reject(new Error(`cannot listen on ${options.listenAddress}: ${error.message}`)) : resolve(),
    ),
  );
  // /metrics, /healthz, /readyz: bound before the loop starts so a busy port fails the start.
  const opsSource = nodeOpsSource(node, transport, requests);
  let ops: OpsServer | undefined;
  if (httpListen !== undefined) {
    try {
      ops = await startOpsServer({
        listen: httpListen,
        source: opsSource,
        sampleIntervalMs: options.tickIntervalMs,
        logger: logger.child({ module: 'http' }),
      });
    } catch (error) {
      server.forceShutdown();
      await node.stop({ transferLeadership: false });
      throw error;
    }
  }
  node.start();
  if (tls !== undefined && settings.tlsPaths !== undefined) {
    const tlsLogger = logger.child({ module: 'tls' });
    watchTlsFiles({ paths: settings.tlsPaths, tls, nodeId: options.id, intervalMs: settings.tlsReloadMs, logger: tlsLogger });
  }
  const stopDuties = runMembershipDuties({
    node,
    id: options.id,
    listenAddress: options.listenAddress,
    join: settings.start.join ?? [],
    autoPromote: settings.autoPromote,
    promoteAfterMs: settings.promoteAfterMs,
    promoteLagEntriesMax: options.promoteLagEntriesMax,
    connect,
    logger: logger.child({ module: 'membership' }),
  });
  if (faultFile !== undefined) {
    const peers = new Set(transport.peerIds());
    watchFaultFile(faultFile, peers, options.id, (faults) => blockPeers(transport, options, faults.blockedPeers), logger.child({ module: 'faults' }));
  }
  void node.failed.promise.then(() => {
    // A broken invariant is a crash: never keep serving from a state we no longer trust. Exit
    // whatever the clean-up does (a node whose loop died once kept running).
    try {
      server.forceShutdown();
      watch.close();
      void ops?.close();
      logger.flush?.();
    } finally {
      process.exit(70);
    }
  });
  logger.info(
    {
      listen: options.listenAddress,
      ...(ops ? { httpListen: formatListenAddress(ops.address) } : {}),
      clusterId: options.clusterId,
      start: plan.kind,
      members: Object.fromEntries(node.status().members.map((m) => [m.id, `${m.address}${m.voter ? '' : ' (learner)'}`])),
      dataDir: options.dataDir,
      tls: tls !== undefined,
      clusterSecret: peerSecurity.clusterSecret !== undefined,
      clientToken: settings.clientToken !== undefined,
    },
    'node started',
  );

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    stopDuties();
    opsSource.markStopping(); // /healthz and /readyz answer 503 from now on
    watch.close(); // watchers resume on another node (UNAVAILABLE)
    logger.info({ signal }, 'stopping: handing off leadership if leading');
    const forceExit = setTimeout(() => {
      logger.error('clean stop took over 10 s; exiting');
      process.exit(1);
    }, 10_000);
    forceExit.unref();
    void node
      .stop({ transferLeadership: true })
      .catch((error: unknown) => logger.error({ err: error }, 'error while stopping'))
      .finally(async () => {
        server.forceShutdown();
        await ops?.close();
        logger.info('stopped');
        logger.flush?.();
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
