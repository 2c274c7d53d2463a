#!/usr/bin/env node
// sessionraft's benchmark sitting: starts each system itself on 127.0.0.1, runs the same
// closed-loop workloads against it, stops it, and compares. See `node bench/run.mjs --help`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepopulate, runPoint } from './lib/load.mjs';
import { logTail, ownedPids, stopServers } from './lib/procs.mjs';
import { renderReport } from './lib/report.mjs';
import { SYSTEM_NAMES, binaryVersion, makeSystems, resolveBinaries } from './lib/systems.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `Usage: node bench/run.mjs [options]        (make bench passes its environment through)

Starts etcd, NATS JetStream KV, Redis and a three-node sessionraft cluster, one at a time, on
127.0.0.1 only; runs the same closed-loop workloads against each; stops each by the pids it
started (also on failure and Ctrl-C) and removes its temp dirs. Prints a table with ratios
(sessionraft ÷ each peer) and writes <results>/latest.json and <results>/<stamp>.{json,md}.

Systems and their durability:
  sessionraft  3 nodes: node dist/src/cli/main.js cluster up --data-dir TMP --base-port 7101
               (stopped by its own cluster down). Writes SYNC (acked once a majority has the
               entry, each node fsyncing its log, and the leader applied it) and ASYNC (acked
               once the leader fsynced it); reads LINEARIZABLE (ReadIndex) and STALE. Through
               the SDK (SessionClient from dist/src/client/index.js), which gives every write a
               request id. Needs make build.
  etcd         etcd 3.4 (Debian etcd-server), 3 members, defaults: a write is acked once a
               quorum fsynced its WAL; gets are linearizable. Ports 7201-7203 (peers 7211-7213).
  nats         nats-server 2.9 (Debian nats-server), 3 servers, KV bucket with replicas 3,
               file storage: a put is acked after quorum replication BEFORE fsync (2.9 has no
               per-write fsync); gets are direct gets from any replica (not linearizable).
               Ports 7221-7223 (routes 7231-7233).
  redis        redis-server 7 (Debian redis-server), ONE node, appendonly yes, appendfsync
               always (fsync before the reply), RDB off. Port 7241.
  A peer whose server is missing is installed with apt-get install -y (one apt-get update
  first if that fails); if it still is missing it is reported as skipped, never measured.

Workloads (one client process, C workers, each with one request in flight):
  write   create/put of a brand-new key with a 300-byte session record
  read    get of one of 10,000 keys written before the first read point
  mix     each operation a write or a read, 50/50
  Each point: WARMUP seconds not counted, then a DURATION-second window; an operation counts
  if it started and finished inside the window. Reported: ops/s, p50/p99/p999 latency (ms,
  around the awaited client call), server CPU µs per op (utime+stime of the server processes
  from /proc/<pid>/stat across the window ÷ ops), client CPU µs per op, and other_cores (CPU
  the rest of the machine used meanwhile: a busy neighbour makes a point less trustworthy).

Options (each also an environment variable; the flag wins):
  --systems LIST       SYSTEMS      sessionraft,etcd,nats,redis
  --workloads LIST     WORKLOADS    write,read,mix
  --conc LIST          CONC         64,256
  --warmup S           WARMUP       2
  --duration S         DURATION     8
  --durability LIST    DURABILITY   SYNC,ASYNC              sessionraft writes (write, mix)
  --consistency LIST   CONSISTENCY  LINEARIZABLE,STALE      sessionraft reads (read, mix)
  --prepopulate N      PREPOPULATE  10000                   keys written for read and mix
  --value-bytes N      VALUE_BYTES  300
  --results DIR        RESULTS_DIR  bench/results
  --no-install         INSTALL=0    never run apt-get: a missing peer is skipped
  -h, --help
  TMPDIR (env): where the systems' data dirs go (default /tmp); a real disk, not tmpfs, or
  fsync costs nothing

Rows of latest.json: system, workload, durability (SYNC|ASYNC for sessionraft where the
workload writes, else null), consistency (LINEARIZABLE|STALE where it reads, else null),
concurrency, ops_per_s, p50_ms, p99_ms, p999_ms, server_cpu_us_per_op, and more (max_ms,
client_cpu_us_per_op, other_cores, ops, errors, server setup and version, ...). A system that
was skipped or failed has rows with null numbers and a "skipped" or "failed" reason.

Examples:
  make bench
  CONC=16 WARMUP=1 DURATION=2 WORKLOADS=write SYSTEMS=sessionraft,etcd make bench
  node bench/run.mjs --systems redis --workloads read --conc 64 --no-install`;

function options() {
  const { values } = parseArgs({
    options: {
      systems: { type: 'string' },
      workloads: { type: 'string' },
      conc: { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      durability: { type: 'string' },
      consistency: { type: 'string' },
      prepopulate: { type: 'string' },
      'value-bytes': { type: 'string' },
      results: { type: 'string' },
      'no-install': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const env = process.env;
  const list = (flag, name, fallback) => String(flag ?? (env[name] || fallback)).split(',').map((s) => s.trim()).filter(Boolean);
  const number = (flag, name, fallback, min) => {
    const raw = flag ?? (env[name] || String(fallback));
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) usage(`${name}: expected a number >= ${min}, got '${raw}'`);
    return n;
  };
  const oneOf = (items, allowed, name) => {
    for (const item of items) if (!allowed.includes(item)) usage(`${name}: '${item}' is not one of ${allowed.join(', ')}`);
    return items;
  };
  const cfg = {
    root: ROOT,
    systems: oneOf(list(values.systems, 'SYSTEMS', SYSTEM_NAMES.join(',')), SYSTEM_NAMES, 'SYSTEMS'),
    workloads: oneOf(list(values.workloads, 'WORKLOADS', 'write,read,mix'), ['write', 'read', 'mix'], 'WORKLOADS'),
    conc: list(values.conc, 'CONC', '64,256').map((c) => {
      const n = Number(c);
      if (!Number.isInteger(n) || n < 1) usage(`CONC: '${c}' is not a positive integer`);
      return n;
    }),
    warmupS: number(values.warmup, 'WARMUP', 2, 0),
    durationS: number(values.duration, 'DURATION', 8, 0.1),
    durability: oneOf(list(values.durability, 'DURABILITY', 'SYNC,ASYNC').map((s) => s.toUpperCase()), ['SYNC', 'ASYNC'], 'DURABILITY'),
    consistency: oneOf(
      list(values.consistency, 'CONSISTENCY', 'LINEARIZABLE,STALE').map((s) => s.toUpperCase()),
      ['LINEARIZABLE', 'STALE'],
      'CONSISTENCY',
    ),
    prepopulate: number(values.prepopulate, 'PREPOPULATE', 10_000, 1),
    valueBytes: number(values['value-bytes'], 'VALUE_BYTES', 300, 1),
    resultsDir: path.resolve(values.results ?? (env.RESULTS_DIR || path.join(ROOT, 'bench/results'))),
    install: !(values['no-install'] || env.INSTALL === '0'),
    sessionraftBasePort: 7101,
    etcdBasePort: 7201,
    natsBasePort: 7221,
    redisPort: 7241,
  };
  if (cfg.durability.length === 0 || cfg.consistency.length === 0) usage('DURABILITY and CONSISTENCY need at least one value');
  return cfg;
}

function usage(message) {
  console.error(`bench/run.mjs: ${message} (see --help)`);
  process.exit(2);
}

// ---------------------------------------------------------------- terminal

const tty = process.stderr.isTTY === true;
let progressShown = false;
function progress(text) {
  if (!tty) return;
  process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns || 120) - 1)}`);
  progressShown = true;
}
function say(text) {
  if (progressShown) {
    process.stderr.write('\r\x1b[2K');
    progressShown = false;
  }
  console.error(text);
}

// ---------------------------------------------------------------- cleanup

let tmpRoot;
const started = new Set(); // systems whose servers may be running
let aborting = false;
let cleaning;

function cleanup() {
  cleaning ??= (async () => {
    for (const system of started) {
      try {
        await system.stop();
      } catch (error) {
        say(`stopping ${system.name}: ${error.message ?? error}`);
      }
      started.delete(system);
    }
    // Last resort: anything we spawned that is still alive.
    await stopServers(ownedPids(), 5_000);
    if (tmpRoot) rmSync(tmpRoot, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(signal, () => {
    if (aborting) return; // a second Ctrl-C: the cleanup is already running
    aborting = true;
    say(`\n${signal}: stopping every server this run started...`);
    cleanup().finally(() => process.exit(code));
  });
}

for (const event of ['uncaughtException', 'unhandledRejection']) {
  process.on(event, (error) => {
    if (aborting) return;
    aborting = true;
    say(`bench: ${event}: ${error?.stack ?? error}\nstopping every server this run started...`);
    cleanup().finally(() => process.exit(1));
  });
}

/** The filesystem type holding `dir` (the longest mount point that contains it). */
function filesystemOf(dir) {
  let best = { point: '', type: 'unknown' };
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, point, type] = line.split(' ');
    if (!point || !type) continue;
    if ((dir === point || dir.startsWith(point.endsWith('/') ? point : `${point}/`)) && point.length > best.point.length) best = { point, type };
  }
  return best.type;
}

// ---------------------------------------------------------------- the sitting

/** The (durability, consistency) pairs one workload runs for a system. */
function variants(cfg, system, workload) {
  if (system !== 'sessionraft') return [{ durability: null, consistency: null }];
  const durabilities = workload === 'read' ? [null] : cfg.durability;
  const consistencies = workload === 'write' ? [null] : cfg.consistency;
  return durabilities.flatMap((durability) => consistencies.map((consistency) => ({ durability, consistency })));
}

function plannedRows(cfg, name) {
  return cfg.workloads.flatMap((workload) =>
    cfg.conc.flatMap((concurrency) => variants(cfg, name, workload).map((v) => ({ system: name, workload, ...v, concurrency }))),
  );
}

/** package.json's version and the worktree's commit (with '+dirty' when it has changes). */
function sessionraftVersion() {
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const git = (args) => spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--', 'src', 'proto', 'package.json']) ? '+dirty' : '';
  return `sessionraft ${version}${commit ? ` ${commit}${dirty}` : ''}`;
}

/** Time left in the sitting, roughly: the points to go at warmup + window + a second each. */
function eta(cfg) {
  const s = Math.round((sittingPoints.total - sittingPoints.done) * (cfg.warmupS + cfg.durationS + 1));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const NULL_METRICS = { ops_per_s: null, p50_ms: null, p99_ms: null, p999_ms: null, server_cpu_us_per_op: null };

/** Points of the whole sitting, for the progress line. */
const sittingPoints = { done: 0, total: 0 };

async function runSystem(cfg, system, bin, rows, stamp) {
  const dir = mkdtempSync(path.join(tmpRoot, `${system.name}-`));
  const planned = plannedRows(cfg, system.name);
  let done = 0;
  let store;
  try {
    say(`${system.name}: starting (${system.setup})`);
    progress(`${system.name}: starting`);
    started.add(system);
    const pids = await system.start(bin, dir);
    const version = bin ? binaryVersion(bin) : sessionraftVersion();
    progress(`${system.name}: connecting`);
    store = await system.client();
    let readKeys = [];
    if (cfg.workloads.some((w) => w !== 'write')) {
      readKeys = await prepopulate(store, cfg.prepopulate, cfg.valueBytes, { durability: 'SYNC', consistency: 'LINEARIZABLE' }, (t) =>
        progress(`${system.name}: ${t}`),
      );
    }
    for (const plan of planned) {
      if (aborting) return;
      const label = `${system.name} ${plan.workload} C=${plan.concurrency}${plan.durability ? ` ${plan.durability}` : ''}${plan.consistency ? ` ${plan.consistency}` : ''}`;
      const measured = await runPoint({
        store,
        variant: plan,
        workload: plan.workload,
        c: plan.concurrency,
        warmupS: cfg.warmupS,
        durationS: cfg.durationS,
        readKeys,
        valueBytes: cfg.valueBytes,
        serverPids: pids,
        progress: (t) => progress(`[${sittingPoints.done + 1}/${sittingPoints.total}, ~${eta(cfg)} left] ${label}: ${t}`),
      });
      if (aborting) return;
      rows.push({
        ...plan,
        ...measured,
        warmup_s: cfg.warmupS,
        value_bytes: cfg.valueBytes,
        server_setup: system.setup,
        server_version: version,
        client: store.detail,
        sitting: stamp,
        ts: new Date().toISOString(),
      });
      done++;
      sittingPoints.done++;
      const r = rows.at(-1);
      say(
        `${label}: ${r.ops_per_s} ops/s, p50 ${r.p50_ms} p99 ${r.p99_ms} p999 ${r.p999_ms} ms, ` +
          `server ${r.server_cpu_us_per_op} µs/op, ${r.errors} errors, other ${r.other_cores} cores`,
      );
    }
  } catch (error) {
    if (aborting) return;
    const reason = String(error?.message ?? error);
    say(`${system.name}: FAILED: ${reason}`);
    for (const log of system.logs()) say(`--- ${log} (last lines)\n${logTail(log, 10)}`);
    for (const plan of planned.slice(done)) rows.push({ ...plan, ...NULL_METRICS, failed: reason, sitting: stamp });
    sittingPoints.done += planned.length - done;
  } finally {
    if (store) await Promise.race([store.close().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
    if (!aborting) {
      progress(`${system.name}: stopping`);
      await system.stop();
      started.delete(system);
    }
  }
}

async function main() {
  const cfg = options();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  tmpRoot = mkdtempSync(path.join(tmpdir(), 'sessionraft-bench-'));
  const fsType = filesystemOf(tmpRoot);
  if (fsType === 'tmpfs' || fsType === 'ramfs') {
    say(`warning: ${tmpRoot} is on ${fsType}: fsync costs nothing there, so durability is not measured (set TMPDIR to a disk)`);
  }
  const systems = makeSystems(cfg);
  const chosen = cfg.systems.map((name) => systems[name]);
  say(
    `sessionraft bench ${stamp}: ${cfg.systems.join(', ')}; ${cfg.workloads.join(', ')}; C=${cfg.conc.join(',')}; ` +
      `warmup ${cfg.warmupS}s, window ${cfg.durationS}s; ${hostname()}, ${cpus().length} cores, node ${process.version}`,
  );
  const binaries = await resolveBinaries(chosen, { install: cfg.install, logFile: path.join(tmpRoot, 'apt.log'), say });
  const rows = [];
  sittingPoints.total = chosen
    .filter((s) => typeof binaries.get(s.name) !== 'object' || binaries.get(s.name) === null)
    .reduce((n, s) => n + plannedRows(cfg, s.name).length, 0);
  for (const system of chosen) {
    if (aborting) return;
    const bin = binaries.get(system.name);
    if (bin && typeof bin === 'object') {
      say(`${system.name}: SKIPPED: ${bin.skipped}`);
      for (const plan of plannedRows(cfg, system.name)) rows.push({ ...plan, ...NULL_METRICS, skipped: bin.skipped, sitting: stamp });
      continue;
    }
    await runSystem(cfg, system, bin, rows, stamp);
  }
  if (aborting) return;
  const peers = cfg.systems.filter((s) => s !== 'sessionraft');
  const report = renderReport(rows, peers);
  say('');
  console.log(report);
  mkdirSync(cfg.resultsDir, { recursive: true });
  const json = `${JSON.stringify(rows, null, 2)}\n`;
  writeFileSync(path.join(cfg.resultsDir, `${stamp}.json`), json);
  writeFileSync(path.join(cfg.resultsDir, 'latest.json'), json);
  const header = [
    `# sessionraft bench ${stamp}`,
    '',
    `${hostname()}, ${cpus().length} cores, node ${process.version}; warmup ${cfg.warmupS} s, window ${cfg.durationS} s; ` +
      `${cfg.valueBytes}-byte records, ${cfg.prepopulate} keys for reads; one client process, C workers with one request each.`,
    '',
    ...chosen.map((s) => `- ${s.name}: ${s.setup}`),
    '',
  ].join('\n');
  writeFileSync(path.join(cfg.resultsDir, `${stamp}.md`), `${header}\n${report}\n`);
  say(`\nresults: ${path.join(cfg.resultsDir, 'latest.json')} (copy: ${stamp}.json, table: ${stamp}.md)`);
  if (rows.some((r) => r.failed)) process.exitCode = 1;
}

main()
  .catch((error) => {
    say(`bench: ${error?.stack ?? error}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    if (aborting) return; // the signal handler cleans up and exits
    await cleanup();
    // Clients may keep sockets or timers; the sitting is over.
    process.exit();
  });
