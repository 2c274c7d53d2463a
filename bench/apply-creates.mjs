// The CPU one node spends applying writes, apart from everything else: batch entries of 256
// SDK-like creates (300-byte session records, each with a request id, so an exactly-once record
// per write), decoded and applied by the session state machine and committed to a real LevelDB
// state store, one entry at a time as a node applies them. Reports µs per create (wall and
// process CPU) over the whole run. Needs make build.
//   node bench/apply-creates.mjs [--entries 400] [--root DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '400' }, root: { type: 'string' }, help: { type: 'boolean' } } });
if (values.help) {
  console.log(`Usage: node bench/apply-creates.mjs [--entries N] [--root DIR]

Applies N batch entries of 256 creates (default 400: 102,400 sessions) on one state machine and a
LevelDB state store in a temp dir, and prints µs per create. --root runs another checkout's
dist/ (an A/B in one sitting: alternate runs of the two). Needs make build.`);
  process.exit(0);
}
const entryCount = Number(values.entries);
if (!Number.isSafeInteger(entryCount) || entryCount < 1) throw new Error(`--entries must be a positive integer, got ${values.entries}`);
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const root = path.resolve(values.root ?? here);
const load = (p) => import(pathToFileURL(path.join(root, p)).href);
const { SessionStateMachine, encodeBatch, encodeBatchItem } = await load('dist/src/session/index.js');
const { openLevelStorage } = await load('dist/src/storage/index.js');
const { sessionRecord } = await import(pathToFileURL(path.join(here, 'bench/lib/load.mjs')).href);

const PER_ENTRY = 256;
const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-apply-creates-'));
try {
  const storage = await openLevelStorage(dir);
  const sm = new SessionStateMachine();
  const requestClientId = `sdk-${randomUUID()}`;
  let seq = 0;
  const entries = [];
  for (let e = 0; e < entryCount; e++) {
    const items = [];
    for (let i = 0; i < PER_ENTRY; i++) {
      const sessionId = randomUUID();
      const data = sessionRecord(sessionId, 300);
      // As the serving node proposes it: validated, with the data's size it measured.
      const command = { ...sm.validateCommand({ type: 'create', sessionId, clientId: `u${seq % 1024}`, transport: 'http', data }), dataBytes: Buffer.byteLength(JSON.stringify(data)) };
      items.push(encodeBatchItem({ command, requestId: { clientId: requestClientId, seq: ++seq } }));
    }
    entries.push({ index: e + 2, data: encodeBatch(1_800_000_000_000 + e, items) });
  }
  const startedNs = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  for (const entry of entries) {
    const outcome = sm.applyEntries([entry]);
    await storage.state.commit(outcome.ops, entry.index);
  }
  const cpu = process.cpuUsage(cpuBefore);
  const wallNs = Number(process.hrtime.bigint() - startedNs);
  const creates = PER_ENTRY * entryCount;
  console.log(`${creates} creates applied: ${(wallNs / 1e3 / creates).toFixed(1)} µs wall, ${((cpu.user + cpu.system) / creates).toFixed(1)} µs CPU per create (${path.relative(process.cwd(), root) || '.'})`);
  await storage.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
