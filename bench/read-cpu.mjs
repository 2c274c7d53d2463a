// Whether reads are bound by CPU: starts three nodes on 127.0.0.1:7401-7403 (data in a temp dir),
// writes 2,000 sessions, then runs C SDK readers for S seconds and prints reads/s with the share of
// a core each node process and this client process used meanwhile (utime+stime from /proc). A
// share well below 1 everywhere means the reads wait on something other than CPU. Needs make build.
//   node bench/read-cpu.mjs [--consistency linearizable|stale] [--conc 256] [--seconds 8] [--spread]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HELP = `Usage: node bench/read-cpu.mjs [options]

Reads/s of one closed loop of SDK readers against a three-node cluster, with the share of a core
each node and the client used. Binds 127.0.0.1:7401-7403; stops only the nodes it started;
removes its temp dir.

  --consistency C   linearizable or stale (default linearizable)
  --conc N          concurrent readers (default 256)
  --seconds S       length of the window (default 8)
  --spread          one client per node, readers spread over them (default: one client, which
                    sends every call to its current endpoint, the leader after its writes)
  --help            this text`;

const { values } = parseArgs({
  options: {
    consistency: { type: 'string', default: 'linearizable' },
    conc: { type: 'string', default: '256' },
    seconds: { type: 'string', default: '8' },
    spread: { type: 'boolean' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const consistency = values.consistency;
if (consistency !== 'linearizable' && consistency !== 'stale') throw new Error(`--consistency must be linearizable or stale, got ${consistency}`);
const conc = Number(values.conc);
const seconds = Number(values.seconds);
if (!Number.isSafeInteger(conc) || conc < 1) throw new Error(`--conc must be a positive integer, got ${values.conc}`);
if (!(seconds >= 1)) throw new Error(`--seconds must be at least 1, got ${values.seconds}`);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { SessionClient } = await import(pathToFileURL(path.join(root, 'dist/src/client/index.js')).href);
const { sessionRecord } = await import(pathToFileURL(path.join(root, 'bench/lib/load.mjs')).href);
const { LOCAL_NODE_ADDRESSES: addresses, startLocalNodes, waitForWrites } = await import(pathToFileURL(path.join(root, 'bench/lib/local-nodes.mjs')).href);

const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-read-cpu-'));
const cluster = startLocalNodes({ root, dir, clusterId: 'read-cpu' });
const nodes = cluster.nodes;
const clients = [];
/** CPU milliseconds a process has used (utime + stime; clock ticks of 10 ms). */
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
try {
  const writer = await SessionClient.connect({ endpoints: addresses, deadlineMsDefault: 30_000 });
  clients.push(writer);
  await waitForWrites(writer);
  const ids = [];
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      for (let i = 0; i < 40; i++) ids.push((await writer.create({ clientId: `u${ids.length % 100}`, transport: 'http', data: sessionRecord('x', 300) })).session.sessionId);
    }),
  );
  const readers = values.spread ? await Promise.all(addresses.map((a) => SessionClient.connect({ endpoints: [a], deadlineMsDefault: 30_000 }))) : [writer];
  clients.push(...readers.filter((c) => c !== writer));
  const nodesBefore = nodes.map((n) => cpuMs(n.pid));
  const clientBefore = process.cpuUsage();
  const startedMs = Date.now();
  let reads = 0;
  let stop = false;
  setTimeout(() => (stop = true), seconds * 1000);
  await Promise.all(
    Array.from({ length: conc }, async (_, w) => {
      for (let n = w; !stop; n += conc) {
        await readers[n % readers.length].get(ids[n % ids.length], { consistency });
        reads++;
      }
    }),
  );
  const elapsedMs = Date.now() - startedMs;
  const client = process.cpuUsage(clientBefore);
  const shares = nodes.map((n, i) => (cpuMs(n.pid) - nodesBefore[i]) / elapsedMs);
  console.log(
    `${Math.round((reads * 1000) / elapsedMs)} reads/s, ${consistency}, C=${conc}, ${values.spread ? 'spread over the nodes' : `all to ${writer.currentEndpoint}`}; ` +
      `share of a core: nodes ${shares.map((s) => s.toFixed(2)).join(', ')}, client ${((client.user + client.system) / 1000 / elapsedMs).toFixed(2)}`,
  );
} finally {
  for (const c of clients) c.close();
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
