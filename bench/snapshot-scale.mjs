#!/usr/bin/env node
// Snapshots at scale: loads N sessions of ~300 bytes into a three-node sessionraft cluster
// (started here, on 127.0.0.1), then reports per node the snapshot size and how long taking it
// took, the event loop's worst delay while snapshots were taken, memory (RSS) and disk per
// session; then a fourth node joins and the time it takes to receive and install the snapshot
// and catch up is measured. `node bench/snapshot-scale.mjs --help`.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');

const HELP = `Usage: node bench/snapshot-scale.mjs [--sessions N] [--concurrency C] [--snapshot-entries E] [--keep]

  --sessions N          sessions to load (default 1000000), ~300 bytes of data each
  --concurrency C       creates in flight (default 256)
  --snapshot-entries E  the nodes' --snapshot-entries (default 10000)
  --keep                keep the data directory (printed) instead of removing it

Needs make build. Nodes on 127.0.0.1:7301-7304, HTTP on 127.0.0.1:8301-8304; only the processes
this script starts are stopped (by pid), also on failure.`;

const { values } = parseArgs({
  options: {
    sessions: { type: 'string' },
    concurrency: { type: 'string' },
    'snapshot-entries': { type: 'string' },
    keep: { type: 'boolean' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const sessions = Number(values.sessions ?? 1_000_000);
const concurrency = Number(values.concurrency ?? 256);
const snapshotEntries = Number(values['snapshot-entries'] ?? 10_000);
if (![sessions, concurrency, snapshotEntries].every((n) => Number.isSafeInteger(n) && n > 0)) {
  console.error('--sessions, --concurrency and --snapshot-entries must be positive integers');
  process.exit(2);
}

const { SessionClient } = await import(path.join(ROOT, 'dist/src/client/index.js'));
const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-scale-'));
const children = new Map();
const address = (id) => `127.0.0.1:${7300 + id}`;
const httpAddress = (id) => `127.0.0.1:${8300 + id}`;
const peers = [1, 2, 3].map((id) => `${id}=${address(id)}`).join(',');

function startNode(id, clusterArgs) {
  const log = createWriteStream(path.join(dir, `n${id}.log`));
  const child = spawn(
    process.execPath,
    [CLI, 'node', '--id', String(id), ...clusterArgs, '--data-dir', path.join(dir, `n${id}`), '--log-format', 'json',
      '--http-listen', httpAddress(id), '--snapshot-entries', String(snapshotEntries)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  children.set(id, child);
}

function stopAll() {
  for (const child of children.values()) if (child.exitCode === null) child.kill('SIGKILL');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

async function metric(id, name) {
  const text = await (await fetch(`http://${httpAddress(id)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

function logLines(id, msg) {
  return readFileSync(path.join(dir, `n${id}.log`), 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l));
}

function bytesUnder(p) {
  let total = 0;
  for (const name of readdirSync(p)) {
    const full = path.join(p, name);
    const s = statSync(full);
    total += s.isDirectory() ? bytesUnder(full) : s.size;
  }
  return total;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n) => n.toLocaleString('en-US');

try {
  for (const id of [1, 2, 3]) startNode(id, ['--peers', peers]);
  const client = await SessionClient.connect({ endpoints: [1, 2, 3].map(address), retriesMax: 20, connectTimeoutMs: 20_000 });
  for (let i = 0; ; i++) {
    try {
      await client.count('warmup');
      break;
    } catch (error) {
      if (i > 100) throw error;
      await sleep(200);
    }
  }
  const filler = 'x'.repeat(240);
  let next = 0;
  let done = 0;
  const started = Date.now();
  let lastPrint = 0;
  // The worst event-loop delay of each node while loading (prom-client resets it per scrape).
  const lagMaxMs = new Map([[1, 0], [2, 0], [3, 0]]);
  const lagPoller = setInterval(async () => {
    for (const id of [1, 2, 3]) {
      const lag = await metric(id, 'nodejs_eventloop_lag_max_seconds').catch(() => undefined);
      if (lag !== undefined) lagMaxMs.set(id, Math.max(lagMaxMs.get(id), lag * 1000));
    }
  }, 1_000);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < sessions) {
        const i = next++;
        await client.create({ clientId: `user-${i % 10_000}`, transport: 'bench', data: { i, filler } });
        done++;
        if (process.stderr.isTTY && Date.now() - lastPrint > 1_000) {
          lastPrint = Date.now();
          const rate = done / ((Date.now() - started) / 1000);
          process.stderr.write(`\rloaded ${fmt(done)} / ${fmt(sessions)} sessions (${fmt(Math.round(rate))}/s)   `);
        }
      }
    }),
  );
  clearInterval(lagPoller);
  const loadSeconds = (Date.now() - started) / 1000;
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.log(`loaded ${fmt(sessions)} sessions in ${loadSeconds.toFixed(1)} s (${fmt(Math.round(sessions / loadSeconds))}/s)`);
  await sleep(2_000);

  console.log('\nnode  snapshots  last snapshot (bytes)  read ms  total ms  max event-loop delay ms  RSS MiB  RSS B/session  disk B/session');
  for (const id of [1, 2, 3]) {
    const taken = logLines(id, 'snapshot taken, log compacted');
    const last = taken.at(-1);
    const rss = await metric(id, 'process_resident_memory_bytes');
    const disk = bytesUnder(path.join(dir, `n${id}`));
    console.log(
      [
        String(id).padEnd(4),
        String(taken.length).padStart(9),
        fmt(last?.bytes ?? 0).padStart(21),
        String(last?.readMs ?? '-').padStart(8),
        String(last?.totalMs ?? '-').padStart(9),
        lagMaxMs.get(id).toFixed(0).padStart(24),
        (rss / 2 ** 20).toFixed(0).padStart(8),
        fmt(Math.round(rss / sessions)).padStart(14),
        fmt(Math.round(disk / sessions)).padStart(15),
      ].join('  '),
    );
  }

  // A fourth node joins: it receives the leader's latest snapshot and installs it.
  const joinStarted = Date.now();
  startNode(4, ['--listen', address(4), '--join', address(1), '--promote-after-ms', '500']);
  const leaderApplied = (await client.status(address(1))).appliedIndex;
  for (;;) {
    await sleep(250);
    const status = await client.status(address(4)).catch(() => undefined);
    if (status && status.appliedIndex >= leaderApplied) break;
    if (Date.now() - joinStarted > 30 * 60_000) throw new Error('node 4 did not catch up within 30 minutes');
  }
  const joinSeconds = (Date.now() - joinStarted) / 1000;
  const installed = logLines(4, 'snapshot installed').at(-1);
  // The transfer: from the moment node 4 was a learner (the leader sends it the snapshot) to the
  // moment its transport had every chunk, checked.
  const learner = logLines(4, 'added to the cluster as a learner').at(-1);
  const received = logLines(4, 'snapshot received').at(-1);
  const sentMs = learner && received ? received.time - learner.time : undefined;
  console.log(
    `\na fourth node joined and caught up in ${joinSeconds.toFixed(1)} s: the snapshot (${received?.totalBytes ?? '?'} bytes) ` +
      `sent in ${sentMs ?? '?'} ms, then installed in ${installed?.loadMs ?? '?'} ms`,
  );
  client.close();
} finally {
  stopAll();
  if (values.keep) console.log(`data kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
