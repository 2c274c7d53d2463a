// Where a write's server CPU goes, node by node: starts three nodes with `node --cpu-prof` on
// 127.0.0.1 (ports 7401-7403, data in a temp dir), drives C SDK workers creating 300-byte
// sessions for D seconds, stops the nodes by their pids (SIGTERM, so each writes its profile),
// and attributes every CPU sample of the load window to the innermost matching part of the
// write path on its stack. Prints µs per write per node by part, leader first. Needs make build.
//   node bench/profile-writes.mjs [--conc 256] [--seconds 10] [--durability sync|async] [--keep DIR]
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HELP = `Usage: node bench/profile-writes.mjs [options]

Profiles a three-node cluster under a write load and prints, for each node, the server CPU per
write (µs) by part of the write path, over the load window (the first and last second left out).
Binds 127.0.0.1:7401-7403; stops only the processes it started; removes its temp dir.

  --conc N          concurrent SDK writers (default 256)
  --seconds S       length of the load (default 10)
  --durability D    sync or async (default sync)
  --keep DIR        keep the .cpuprofile files in DIR (open them in Chrome DevTools)
  --help            this text

Needs make build (dist/).`;

const { values } = parseArgs({
  options: {
    conc: { type: 'string', default: '256' },
    seconds: { type: 'string', default: '10' },
    durability: { type: 'string', default: 'sync' },
    keep: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const conc = Number(values.conc);
const seconds = Number(values.seconds);
if (!Number.isSafeInteger(conc) || conc < 1) throw new Error(`--conc must be a positive integer, got ${values.conc}`);
if (!(seconds >= 3)) throw new Error(`--seconds must be at least 3, got ${values.seconds}`);
if (values.durability !== 'sync' && values.durability !== 'async') throw new Error(`--durability must be sync or async, got ${values.durability}`);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (p) => import(pathToFileURL(path.join(root, p)).href);
const { SessionClient } = await load('dist/src/client/index.js');
const { sessionRecord } = await load('bench/lib/load.mjs');
const { LOCAL_NODE_ADDRESSES, startLocalNodes, waitForWrites } = await load('bench/lib/local-nodes.mjs');

/** Parts of the write path, innermost first wins; matched on (function name, script url). */
const PARTS = [
  ['snapshot taking', (fn, url) => fn === 'encodeStateSnapshotChunks' || url.endsWith('/node/snapshots.js') || (fn === 'entries' && url.endsWith('/level-state.js'))],
  ['state LevelDB batch', (fn, url) => fn === 'commit' && url.endsWith('/level-state.js')],
  ['apply: exactly-once record', (fn) => fn === '#remember'],
  ['apply: decode + validate entry', (fn) => fn === 'decodeEntryValue' || fn === 'validateCommand' || fn === 'validateBatchEnvelope'],
  ['apply: digest + row encoding', (fn) => fn === '#finish'],
  ['apply: sessions, indexes, results', (fn) => fn === 'applyEntries'],
  ['log save (LevelDB, fsync)', (fn, url) => url.endsWith('/level-log.js')],
  ['client requests (gRPC stream, validation, replies)', (fn, url) => url.includes('/dist/src/server/')],
  ['raft core, replication', (fn, url) => url.includes('/dist/src/raft/') || url.includes('/dist/src/transport/') || url.endsWith('/coalesce.js')],
  ['node loop, waiters', (fn, url) => url.includes('/dist/src/node/')],
];
const OTHER = 'gRPC/HTTP2 I/O, timers, other';

const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-profile-writes-'));
const profDir = values.keep ? path.resolve(values.keep) : path.join(dir, 'profiles');
mkdirSync(profDir, { recursive: true });
const cluster = startLocalNodes({
  root,
  dir,
  clusterId: 'profile',
  nodeFlags: (id) => ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=node${id}.cpuprofile`],
});
let client;
process.once('SIGINT', () => void cluster.stop().finally(() => process.exit(130)));
try {
  client = await SessionClient.connect({ endpoints: LOCAL_NODE_ADDRESSES, deadlineMsDefault: 30_000 });
  await waitForWrites(client);
  const record = sessionRecord('x', 300);
  const stamps = []; // completion times (ms) of every write
  let stop = false;
  const startedMs = Date.now();
  const ticker = setInterval(() => process.stderr.write(`\r${Math.round((Date.now() - startedMs) / 1000)}/${seconds} s, ${stamps.length} writes `), 1000);
  setTimeout(() => (stop = true), seconds * 1000);
  let n = 0;
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (!stop) {
        await client.create({ clientId: `u${n++ % 1024}`, transport: 'http', data: record }, { durability: values.durability });
        stamps.push(Date.now());
      }
    }),
  );
  clearInterval(ticker);
  const loadEndMs = Date.now();
  process.stderr.write('\n');
  const leader = (await client.status(LOCAL_NODE_ADDRESSES[0])).leaderId;
  client.close();
  client = undefined;
  await cluster.stop();
  const stoppedMs = Date.now();
  // The window: from 1 s after the start to 1 s before the end of the load, on both clocks.
  const windowStartMs = startedMs + 1000;
  const windowEndMs = loadEndMs - 1000;
  const writes = stamps.filter((t) => t >= windowStartMs && t <= windowEndMs).length;
  console.log(`${stamps.length} writes in ${seconds} s (${Math.round(stamps.length / seconds)}/s), C=${conc}, ${values.durability.toUpperCase()}; ${writes} in the ${((windowEndMs - windowStartMs) / 1000).toFixed(1)} s window`);
  const rows = [];
  for (const id of [1, 2, 3]) {
    const profile = JSON.parse(readFileSync(path.join(profDir, `node${id}.cpuprofile`), 'utf8'));
    // A profile's clock ends when its process exits: map the window back from there.
    const endUs = profile.endTime - (stoppedMs - windowEndMs) * 1000;
    rows.push({ id, leader: id === leader, ...attribute(profile, endUs - (windowEndMs - windowStartMs) * 1000, endUs, writes) });
  }
  rows.sort((a, b) => Number(b.leader) - Number(a.leader) || a.id - b.id);
  printTable(rows);
} finally {
  client?.close();
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** Self time of the samples in [startUs, endUs], by part; µs per write. */
function attribute(profile, startUs, endUs, writes) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at >= startUs && at <= endUs) selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const parts = new Map();
  let busyUs = 0;
  for (const [nodeId, us] of selfUs) {
    const fn0 = byId.get(nodeId).callFrame.functionName;
    if (fn0 === '(idle)' || fn0 === '(root)') continue;
    busyUs += us;
    let part;
    if (fn0 === '(garbage collector)') part = 'garbage collection';
    else if (fn0 === '(program)') part = 'V8 and native (unattributed)';
    else {
      for (let id = nodeId; id !== undefined && part === undefined; id = parent.get(id)) {
        const { functionName, url } = byId.get(id).callFrame;
        part = PARTS.find(([, test]) => test(functionName, url))?.[0];
      }
    }
    part ??= OTHER;
    parts.set(part, (parts.get(part) ?? 0) + us);
  }
  const windowUs = endUs - startUs;
  return { busyShare: busyUs / windowUs, perWrite: new Map([...parts].map(([k, v]) => [k, v / writes])), totalPerWrite: busyUs / writes };
}

function printTable(rows) {
  const names = [...PARTS.map(([name]) => name), 'garbage collection', 'V8 and native (unattributed)', OTHER];
  const label = (r) => `node ${r.id}${r.leader ? ' (leader)' : ''}`;
  console.log(`\n| part (µs of CPU per write) | ${rows.map(label).join(' | ')} |`);
  console.log(`|---|${rows.map(() => '---').join('|')}|`);
  for (const name of names) {
    if (rows.every((r) => (r.perWrite.get(name) ?? 0) < 0.05)) continue;
    console.log(`| ${name} | ${rows.map((r) => (r.perWrite.get(name) ?? 0).toFixed(1)).join(' | ')} |`);
  }
  console.log(`| **total** | ${rows.map((r) => `**${r.totalPerWrite.toFixed(1)}**`).join(' | ')} |`);
  console.log(`| busy share of the window | ${rows.map((r) => `${Math.round(100 * r.busyShare)} %`).join(' | ')} |`);
}
