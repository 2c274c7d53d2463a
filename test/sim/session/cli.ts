/**
 * Runs the simulation of real nodes over a range of seeds (`make sim` calls it):
 *   npx tsx test/sim/session/cli.ts --seeds N [--from S | --seed S] [--nodes 3|5] [--steps K] [--bug NAME] [--membership on|off]
 * Prints one line per failing seed with its violations and replay command, then a summary line
 * (`session sim: seeds=… ticks=… … failed=F violations=V`) and the speed; exits 1 on any
 * violation, 2 on bad arguments.
 */
import { parseArgs } from 'node:util';
import { CORE_BUG_NAMES, NODE_BUG_NAMES, runSessionSimulation, type CoreBugName, type NodeBugName } from './sim.js';

const BUG_NAMES: readonly string[] = [...NODE_BUG_NAMES, ...CORE_BUG_NAMES];
const USAGE = `usage: npx tsx test/sim/session/cli.ts --seeds N [--from S | --seed S] [--nodes 3|5] [--steps K] [--bug ${BUG_NAMES.join('|')}] [--membership on|off]`;

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) {
    console.error(`--${name}: expected a non-negative integer, got '${text}'\n${USAGE}`);
    process.exit(2);
  }
  return Number(text);
}

const { values } = parseArgs({
  options: { seeds: { type: 'string' }, from: { type: 'string' }, seed: { type: 'string' }, nodes: { type: 'string' }, steps: { type: 'string' }, bug: { type: 'string' }, membership: { type: 'string' }, help: { type: 'boolean' } },
  strict: true,
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const single = values.seed !== undefined;
const from = integer(single ? 'seed' : 'from', single ? values.seed : values.from, 1);
const count = single ? 1 : integer('seeds', values.seeds, 20);
const nodes = values.nodes === undefined ? undefined : (integer('nodes', values.nodes, 3) as 3 | 5);
const steps = values.steps === undefined ? undefined : integer('steps', values.steps, 300);
if (values.bug !== undefined && !BUG_NAMES.includes(values.bug)) {
  console.error(`--bug: unknown bug '${values.bug}'\n${USAGE}`);
  process.exit(2);
}
if (values.membership !== undefined && values.membership !== 'on' && values.membership !== 'off') {
  console.error(`--membership: expected on or off, got '${values.membership}'\n${USAGE}`);
  process.exit(2);
}
const bug = values.bug as NodeBugName | CoreBugName | undefined;
const membership = values.membership === undefined ? undefined : values.membership === 'on';
const startedMs = Date.now();
const cpuStarted = process.cpuUsage();
let failed = 0;
let ticks = 0;
let ops = 0;
let crashes = 0;
let unchecked = 0;
let installs = 0;
let violations = 0;
let memberSeeds = 0;
let memberChanges = 0;
let nodesAdded = 0;
const memberOutcomes = new Map<string, number>();
for (let seed = from; seed < from + count; seed++) {
  const result = await runSessionSimulation({ seed, ...(nodes ? { nodes } : {}), ...(steps !== undefined ? { steps } : {}), ...(bug ? { bug } : {}), ...(membership !== undefined ? { membership } : {}) });
  ticks += result.ticks;
  ops += result.ops;
  crashes += result.crashes;
  unchecked += result.uncheckedSessions;
  installs += result.snapshotInstalls;
  violations += result.violations.length;
  if (result.membership) memberSeeds++;
  memberChanges += result.memberChanges;
  nodesAdded += result.nodesAdded;
  for (const [outcome, n] of Object.entries(result.memberOutcomes)) memberOutcomes.set(outcome, (memberOutcomes.get(outcome) ?? 0) + n);
  if (result.violations.length > 0) {
    failed++;
    console.log(`seed ${seed} (${result.nodes} nodes): ${result.violations.length} violation(s)`);
    for (const v of result.violations.slice(0, 5)) console.log(`  ${v}`);
    const flags = `${nodes ? ` --nodes ${nodes}` : ''}${steps !== undefined ? ` --steps ${steps}` : ''}${bug ? ` --bug ${bug}` : ''}${values.membership ? ` --membership ${values.membership}` : ''}`;
    console.log(`  replay: ${flags === '' ? `make sim SEED=${seed}` : `npx tsx test/sim/session/cli.ts --seed ${seed}${flags}`}`);
  }
}
const seconds = (Date.now() - startedMs) / 1000;
const cpu = process.cpuUsage(cpuStarted);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(`session sim: seeds=${count} ticks=${ticks} ops=${ops} crashes=${crashes} installs=${installs} unchecked-sessions=${unchecked} failed=${failed} violations=${violations}`);
console.log(`session sim: membership seeds=${memberSeeds} changes=${memberChanges} nodes-added=${nodesAdded}`);
if (memberOutcomes.size > 0) console.log(`session sim: membership calls: ${[...memberOutcomes].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}=${n}`).join(' ')}`);
console.log(`session sim: ${Math.round(ticks / seconds)} ticks/s, ${Math.round(ticks / cpuSeconds)} per CPU second (${seconds.toFixed(1)} s, ${cpuSeconds.toFixed(1)} s CPU)`);
process.exit(failed > 0 ? 1 : 0);
