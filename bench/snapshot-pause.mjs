// How long taking a snapshot pauses a node's event loop, apart from everything else a loaded
// node does: a state of N sessions (~300 bytes of data each) is written to LevelDB as the node
// writes it (applied by the session state machine, in batch entries of 1,000), then a snapshot
// is taken exactly as a node takes its own (a LevelDB iterator streamed into the snapshot file in
// chunks, hashed as it goes), while perf_hooks' event-loop delay histogram (5 ms resolution) and
// a 1 ms interval timer watch the loop. Needs make build.
//   node bench/snapshot-pause.mjs [--sessions N] [--keep]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const { values } = parseArgs({ options: { sessions: { type: 'string', default: '1000000' }, keep: { type: 'boolean' }, help: { type: 'boolean' } } });
if (values.help) {
  console.log('Usage: node bench/snapshot-pause.mjs [--sessions N] [--keep]\n\nThe event-loop pause of taking one snapshot of N sessions (default 1000000), measured apart\nfrom the load that built them; see the header of this file. Needs make build.');
  process.exit(0);
}
const sessions = Number(values.sessions);
if (!Number.isSafeInteger(sessions) || sessions < 1000) throw new Error('--sessions must be an integer >= 1000');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (p) => import(pathToFileURL(path.join(root, p)).href);
const { openLevelStorage } = await load('dist/src/storage/index.js');
const { SessionStateMachine, encodeBatch, encodeBatchItem } = await load('dist/src/session/index.js');
const { encodeStateSnapshotChunks } = await load('dist/src/node/state-snapshot.js');
const { sessionRecord } = await load('bench/lib/load.mjs');

const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-snapshot-pause-'));
const storage = await openLevelStorage(dir);
try {
  const sm = new SessionStateMachine({});
  let index = 0;
  const loadStarted = Date.now();
  for (let n = 0; n < sessions; n += 1000) {
    const items = [];
    for (let j = 0; j < 1000 && n + j < sessions; j++) {
      const id = randomUUID();
      const i = n + j;
      items.push(encodeBatchItem({ requestId: { clientId: `sdk-${i % 16}`, seq: Math.floor(i / 16) + 1 }, command: { type: 'create', sessionId: id, clientId: `u${i % 1024}`, transport: 'http', data: sessionRecord(id, 300), ttlMs: 86_400_000, maxLifetimeMs: 0 } }));
    }
    index++;
    const { ops } = sm.applyEntries([{ index, data: encodeBatch(Date.now(), items) }]);
    await storage.state.commit(ops, index);
    if (index % 100 === 0) process.stdout.write(`\rloaded ${n + 1000} sessions`);
  }
  console.log(`\rloaded ${sessions} sessions in ${((Date.now() - loadStarted) / 1000).toFixed(0)} s; taking a snapshot`);
  globalThis.gc?.();
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  let lastTickMs = performance.now();
  let worstGapMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    worstGapMs = Math.max(worstGapMs, now - lastTickMs);
    lastTickMs = now;
  }, 1);
  histogram.enable();
  const started = performance.now();
  const writer = storage.snapshots.create();
  let bytes = 0;
  for await (const chunk of encodeStateSnapshotChunks(storage.state.entries(), index)) {
    bytes += chunk.length;
    await writer.write(chunk);
  }
  const readMs = performance.now() - started;
  histogram.disable();
  clearInterval(ticker);
  await writer.abort();
  const ms = (ns) => (ns / 1e6).toFixed(1);
  console.log(`snapshot of ${sessions} sessions: ${bytes} bytes read and written in ${(readMs / 1000).toFixed(1)} s`);
  console.log(`event-loop delay while taking it: max ${ms(histogram.max)} ms, p99 ${ms(histogram.percentile(99))} ms, mean ${ms(histogram.mean)} ms; longest gap between 1 ms timer ticks ${worstGapMs.toFixed(1)} ms`);
} finally {
  await storage.close();
  if (values.keep) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
