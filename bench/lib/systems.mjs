// The systems a sitting compares: how each is installed, started on 127.0.0.1 only, with which
// durability, how it is stopped, and the client calls the load loop makes.
//
// Every store gets the same calls: put(key, record) stores a brand-new ~300-byte session record,
// get(key) reads one back (and rejects if it is missing). Peers store JSON.stringify(record);
// sessionraft creates a session with the record as its data, under the key as its session id.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  findBinary,
  foreignAlive,
  logTail,
  portInUse,
  runLogged,
  serverAlive,
  sleep,
  startServer,
  stopServers,
  waitForPort,
} from './procs.mjs';

const HOST = '127.0.0.1';

/** Retries `attempt` until it resolves or `timeoutMs` passes (then rethrows its last error). */
async function retry(timeoutMs, attempt, alive = () => true) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline || !alive()) throw error;
      await sleep(250);
    }
  }
}

async function assertPortsFree(name, ports) {
  for (const port of ports) {
    if (await portInUse(port)) throw new Error(`${name}: 127.0.0.1:${port} is already in use (another run?); not starting`);
  }
}

// ---------------------------------------------------------------- etcd

function etcd(cfg) {
  const clientPorts = [1, 2, 3].map((i) => cfg.etcdBasePort + i - 1);
  const peerPorts = [1, 2, 3].map((i) => cfg.etcdBasePort + 10 + i - 1);
  let pids = [];
  let logs = [];
  return {
    name: 'etcd',
    packages: ['etcd-server'],
    binaries: ['etcd', '/usr/bin/etcd'],
    setup:
      'etcd 3.4, 3 members, default settings: each write is acked after the leader and a quorum ' +
      'have fsynced it to their WAL; reads are linearizable (ReadIndex), the etcd default',
    endpoints: clientPorts.map((p) => `${HOST}:${p}`),
    async start(bin, dir) {
      await assertPortsFree('etcd', [...clientPorts, ...peerPorts]);
      const cluster = [1, 2, 3].map((i) => `e${i}=http://${HOST}:${peerPorts[i - 1]}`).join(',');
      logs = [1, 2, 3].map((i) => path.join(dir, `e${i}.log`));
      pids = [1, 2, 3].map((i) =>
        startServer(`etcd e${i}`, bin, [
          '--name', `e${i}`,
          '--data-dir', path.join(dir, `e${i}`),
          '--listen-client-urls', `http://${HOST}:${clientPorts[i - 1]}`,
          '--advertise-client-urls', `http://${HOST}:${clientPorts[i - 1]}`,
          '--listen-peer-urls', `http://${HOST}:${peerPorts[i - 1]}`,
          '--initial-advertise-peer-urls', `http://${HOST}:${peerPorts[i - 1]}`,
          '--initial-cluster', cluster,
          '--initial-cluster-token', 'sessionraft-bench',
          '--initial-cluster-state', 'new',
          '--logger', 'zap',
          '--log-outputs', 'stderr',
        ], logs[i - 1]),
      );
      for (const [i, port] of clientPorts.entries()) await waitForPort(port, 30_000, () => serverAlive(pids[i]));
      return pids;
    },
    logs: () => logs,
    stop: () => stopServers(pids),
    async client() {
      const { Etcd3 } = await import('etcd3');
      const client = new Etcd3({ hosts: this.endpoints.map((e) => `http://${e}`) });
      // Ready once a linearizable read succeeds (it needs a leader).
      await retry(30_000, () => client.get('bench/ready').string(), () => pids.every(serverAlive));
      return {
        detail: 'etcd3 client; put; get = linearizable range read',
        put: (key, record) => client.put(`sess/${key}`).value(JSON.stringify(record)).exec(),
        async get(key) {
          const value = await client.get(`sess/${key}`).string();
          if (value === null) throw new Error(`missing key ${key}`);
        },
        close: async () => client.close(),
      };
    },
  };
}

// ---------------------------------------------------------------- NATS JetStream KV

function nats(cfg) {
  const clientPorts = [1, 2, 3].map((i) => cfg.natsBasePort + i - 1);
  const routePorts = [1, 2, 3].map((i) => cfg.natsBasePort + 10 + i - 1);
  let pids = [];
  let logs = [];
  return {
    name: 'nats',
    packages: ['nats-server'],
    binaries: ['nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server'],
    setup:
      'nats-server JetStream KV bucket, 3 servers, replicas 3, file storage, history 1: a put is ' +
      'acked once a quorum of replicas has appended it, BEFORE any fsync (2.9 syncs its files ' +
      'periodically and has no per-write fsync setting); gets are direct gets that any replica ' +
      'may answer (the nats.js default on 2.9), so not linearizable',
    endpoints: clientPorts.map((p) => `${HOST}:${p}`),
    async start(bin, dir) {
      await assertPortsFree('nats', [...clientPorts, ...routePorts]);
      logs = [1, 2, 3].map((i) => path.join(dir, `n${i}.log`));
      pids = [1, 2, 3].map((i) => {
        const routes = routePorts.filter((_, j) => j !== i - 1).map((p) => `nats-route://${HOST}:${p}`);
        const conf = path.join(dir, `n${i}.conf`);
        mkdirSync(path.join(dir, `n${i}`), { recursive: true });
        writeFileSync(
          conf,
          [
            `server_name: n${i}`,
            `listen: ${HOST}:${clientPorts[i - 1]}`,
            `jetstream {`,
            `  store_dir: ${JSON.stringify(path.join(dir, `n${i}`))}`,
            `}`,
            `cluster {`,
            `  name: sessionraft-bench`,
            `  listen: ${HOST}:${routePorts[i - 1]}`,
            `  routes: [ ${routes.join(', ')} ]`,
            `}`,
            '',
          ].join('\n'),
        );
        return startServer(`nats n${i}`, bin, ['-c', conf], logs[i - 1]);
      });
      for (const [i, port] of clientPorts.entries()) await waitForPort(port, 30_000, () => serverAlive(pids[i]));
      return pids;
    },
    logs: () => logs,
    stop: () => stopServers(pids),
    async client() {
      const { connect } = await import('nats');
      const nc = await connect({ servers: this.endpoints, name: 'sessionraft-bench' });
      const js = nc.jetstream({ timeout: 10_000 });
      // The bucket can be created once JetStream has a meta leader.
      const kv = await retry(60_000, () => js.views.kv('sessions', { replicas: 3, history: 1 }), () => pids.every(serverAlive));
      const encoder = new TextEncoder();
      return {
        detail: 'nats.js; KV bucket R3; put; get = direct get (any replica)',
        put: (key, record) => kv.put(`s.${key}`, encoder.encode(JSON.stringify(record))),
        async get(key) {
          const entry = await kv.get(`s.${key}`);
          if (!entry) throw new Error(`missing key ${key}`);
        },
        close: async () => {
          await nc.drain();
        },
      };
    },
  };
}

// ---------------------------------------------------------------- Redis

function redis(cfg) {
  const port = cfg.redisPort;
  let pids = [];
  let logs = [];
  return {
    name: 'redis',
    packages: ['redis-server'],
    binaries: ['redis-server', '/usr/bin/redis-server'],
    setup:
      'redis-server 7, ONE node (not replicated), appendonly yes + appendfsync always: each write ' +
      'is fsynced to the AOF before its reply (one fsync per event-loop turn); RDB snapshots off',
    endpoints: [`${HOST}:${port}`],
    async start(bin, dir) {
      await assertPortsFree('redis', [port]);
      logs = [path.join(dir, 'redis.log')];
      mkdirSync(path.join(dir, 'data'), { recursive: true });
      pids = [
        startServer('redis', bin, [
          '--bind', HOST,
          '--port', String(port),
          '--protected-mode', 'yes',
          '--daemonize', 'no',
          '--dir', path.join(dir, 'data'),
          '--appendonly', 'yes',
          '--appendfsync', 'always',
          '--save', '',
        ], logs[0]),
      ];
      await waitForPort(port, 30_000, () => serverAlive(pids[0]));
      return pids;
    },
    logs: () => logs,
    stop: () => stopServers(pids),
    async client() {
      const { default: Redis } = await import('ioredis');
      const client = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 3 });
      await client.connect();
      await retry(10_000, () => client.ping());
      return {
        detail: 'ioredis, one connection (commands of all workers pipelined on it); SET; GET',
        put: (key, record) => client.set(`sess:${key}`, JSON.stringify(record)),
        async get(key) {
          const value = await client.get(`sess:${key}`);
          if (value === null) throw new Error(`missing key ${key}`);
        },
        close: async () => {
          await client.quit();
        },
      };
    },
  };
}

// ---------------------------------------------------------------- sessionraft

function sessionraft(cfg) {
  const ports = [1, 2, 3].map((i) => cfg.sessionraftBasePort + i - 1);
  const cli = path.join(cfg.root, 'dist/src/cli/main.js');
  let dataDir;
  let pids = [];
  let up; // the `cluster up` run, while it lasts
  const nodePids = () =>
    [1, 2, 3]
      .map((i) => {
        try {
          return Number(readFileSync(path.join(dataDir, `n${i}`, 'node.pid'), 'utf8').trim());
        } catch {
          return 0;
        }
      })
      .filter((pid) => pid > 0);
  const clusterArgs = () => ['--data-dir', dataDir, '--base-port', String(cfg.sessionraftBasePort)];
  return {
    name: 'sessionraft',
    packages: [],
    binaries: [],
    setup:
      'sessionraft, 3 nodes (cluster up, node defaults). SYNC: acked after a majority has the ' +
      'entry (each fsyncs its log) and the leader applied it; ASYNC: acked once the leader ' +
      'fsynced it to its own log. LINEARIZABLE: ReadIndex, served by any node; STALE: the ' +
      "serving node's state at or after the client's last answered write (the SDK's default " +
      'minIndex). The SDK gives every write a request id (a dedup record per write)',
    endpoints: ports.map((p) => `${HOST}:${p}`),
    async start(_bin, dir) {
      if (!existsSync(cli)) throw new Error(`sessionraft: ${cli} is missing; run make build`);
      await assertPortsFree('sessionraft', ports);
      dataDir = dir;
      const log = path.join(dir, 'cluster-up.log');
      up = runLogged(process.execPath, [cli, 'cluster', 'up', ...clusterArgs()], log, { detached: true });
      const code = await up;
      pids = nodePids();
      if (code !== 0) throw new Error(`sessionraft: cluster up exited ${code}:\n${logTail(log)}`);
      if (pids.length !== 3) throw new Error(`sessionraft: cluster up recorded ${pids.length} node pids`);
      return pids;
    },
    logs: () => (dataDir ? [path.join(dataDir, 'cluster-up.log'), ...[1, 2, 3].map((i) => path.join(dataDir, `n${i}`, 'node.log'))] : []),
    async stop() {
      if (!dataDir) return;
      // A `cluster up` still waiting for a leader (Ctrl-C came early) has spawned its nodes.
      if (up) await Promise.race([up, sleep(30_000)]);
      pids = [...new Set([...pids, ...nodePids()])];
      // The CLI's own stop (SIGTERM to the pids it recorded, SIGKILL after 15 s) ...
      const code = await Promise.race([
        runLogged(process.execPath, [cli, 'cluster', 'down', ...clusterArgs()], path.join(dataDir, 'cluster-down.log'), { detached: true }),
        sleep(40_000).then(() => 'timeout'),
      ]);
      if (code !== 0) console.error(`sessionraft: cluster down: ${code === 'timeout' ? 'no exit in 40 s' : `exit ${code}`}`);
      // ... and, should it have failed, the node pids from its pid files, if still our nodes.
      const left = pids.filter((pid) => foreignAlive(pid, dataDir));
      for (const pid of left) {
        console.error(`sessionraft node pid ${pid} outlived cluster down; sending SIGKILL`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      for (let i = 0; i < 100 && left.some((pid) => foreignAlive(pid, dataDir)); i++) await sleep(50);
      pids = [];
    },
    async client() {
      const { SessionClient } = await import(pathToFileURL(path.join(cfg.root, 'dist/src/client/index.js')).href);
      const client = await SessionClient.connect({ endpoints: this.endpoints });
      let n = 0;
      const newRecord = (key, record, durability) =>
        client.create({ sessionId: key, clientId: `u${n++ % 1024}`, transport: 'http', data: record }, { durability });
      await retry(30_000, () => newRecord(`ready-${Date.now()}`, {}, 'sync'));
      return {
        detail: 'SessionClient (Batch stream); create with a caller-chosen session id; get',
        put: (key, record, variant) => newRecord(key, record, variant.durability?.toLowerCase()),
        get: (key, variant) => client.get(key, { consistency: variant.consistency?.toLowerCase() }),
        close: async () => client.close(),
      };
    },
  };
}

export function makeSystems(cfg) {
  return { sessionraft: sessionraft(cfg), etcd: etcd(cfg), nats: nats(cfg), redis: redis(cfg) };
}

export const SYSTEM_NAMES = ['sessionraft', 'etcd', 'nats', 'redis'];

/**
 * Makes sure the peers' binaries are there: missing ones are installed with apt-get (after one
 * `apt-get update` if the first install fails) unless `install` is false. Returns name → binary
 * path, or name → { skipped: reason }.
 */
export async function resolveBinaries(systems, { install, logFile, say }) {
  const found = new Map();
  const missing = [];
  for (const system of systems) {
    if (system.binaries.length === 0) {
      found.set(system.name, null);
      continue;
    }
    const bin = findBinary(system.binaries);
    if (bin) found.set(system.name, bin);
    else missing.push(system);
  }
  if (missing.length > 0 && install) {
    const packages = missing.flatMap((s) => s.packages);
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      say(`not root: cannot apt-get install ${packages.join(' ')}`);
    } else {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      say(`installing ${packages.join(' ')} with apt-get (log: ${logFile})`);
      let code = await runLogged('apt-get', ['install', '-y', ...packages], logFile, { env });
      if (code !== 0) {
        say('apt-get install failed; running apt-get update once, then retrying');
        await runLogged('apt-get', ['update'], logFile, { env });
        code = await runLogged('apt-get', ['install', '-y', ...packages], logFile, { env });
      }
      if (code !== 0) say(`apt-get install exited ${code}:\n${logTail(logFile, 8)}`);
    }
  }
  for (const system of missing) {
    const bin = findBinary(system.binaries);
    if (bin) found.set(system.name, bin);
    else
      found.set(system.name, {
        skipped: `not installed (${system.binaries[0]} not found; apt-get install ${system.packages.join(' ')}${install ? ' failed' : ' not tried: INSTALL=0'})`,
      });
  }
  return found;
}

/** The version line a binary prints, for the record. */
export function binaryVersion(bin) {
  const out = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 5_000 });
  return `${out.stdout ?? ''}${out.stderr ?? ''}`.trim().split('\n')[0] ?? '';
}
