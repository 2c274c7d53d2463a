/**
 * Runs many seeds and summarizes them: the one-line summary the CLI prints, the replay command
 * for each failing seed, steps per second.
 */
import type { Violation } from './invariants.js';
import { type BugName, type ProfileName } from './profiles.js';
import { type SimConfig, type SimResult, runSimulation } from './sim.js';

export interface RunOptions {
  /** Seeds to run: firstSeed, firstSeed + 1, ... @default 1 */
  readonly seeds: number;
  /** @default 1 */
  readonly firstSeed?: number;
  readonly nodes?: 3 | 5;
  readonly steps?: number;
  readonly bug?: BugName;
  readonly profile?: ProfileName;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly lincheckTimeoutMs?: number;
  /** Stop after the first failing seed (bug hunting). @default false */
  readonly stopAtFirstFailure?: boolean;
  /** Called after each seed (progress output). */
  readonly onResult?: (result: SimResult) => void;
  /** Wall clock for steps/s only (the simulation itself never reads it). @default performance.now */
  readonly nowMs?: () => number;
  /** CPU time of this process in ms, for steps per CPU second (a shared machine skews wall time). */
  readonly cpuMs?: () => number;
}

export interface RunSummary {
  readonly seeds: number;
  readonly ticks: number;
  readonly faults: number;
  readonly ops: number;
  readonly violations: number;
  readonly failures: readonly SimResult[];
  /** Seeds whose history the checker could not decide in time. */
  readonly lincheckUnknown: number;
  readonly elapsedMs: number;
  readonly ticksPerSecond: number;
  /** Set when options.cpuMs was given. */
  readonly cpuMs?: number;
  readonly ticksPerCpuSecond?: number;
}

export async function runSeeds(options: RunOptions): Promise<RunSummary> {
  if (!(Number.isInteger(options.seeds) && options.seeds >= 1)) throw new RangeError(`seeds must be an integer ≥ 1, got ${options.seeds}`);
  const first = options.firstSeed ?? 1;
  const now = options.nowMs ?? (() => performance.now());
  const started = now();
  const cpuStarted = options.cpuMs?.();
  let ticks = 0;
  let faults = 0;
  let ops = 0;
  let violations = 0;
  let lincheckUnknown = 0;
  let seeds = 0;
  const failures: SimResult[] = [];
  for (let seed = first; seed < first + options.seeds; seed++) {
    const result = await runSimulation(configFor(seed, options));
    seeds++;
    ticks += result.ticks;
    faults += result.faults;
    ops += result.ops;
    violations += result.violationCount;
    if (result.lincheck === 'unknown') lincheckUnknown++;
    if (result.violationCount > 0) failures.push(result);
    options.onResult?.(result);
    if (options.stopAtFirstFailure === true && failures.length > 0) break;
  }
  const elapsedMs = now() - started;
  const cpuMs = cpuStarted !== undefined && options.cpuMs !== undefined ? options.cpuMs() - cpuStarted : undefined;
  return {
    seeds, ticks, faults, ops, violations, failures, lincheckUnknown, elapsedMs,
    ticksPerSecond: elapsedMs > 0 ? Math.round((ticks * 1000) / elapsedMs) : 0,
    ...(cpuMs !== undefined ? { cpuMs, ticksPerCpuSecond: cpuMs > 0 ? Math.round((ticks * 1000) / cpuMs) : 0 } : {}),
  };
}

export function configFor(seed: number, options: Omit<RunOptions, 'seeds'>): SimConfig {
  return {
    seed,
    ...(options.nodes !== undefined ? { nodes: options.nodes } : {}),
    ...(options.steps !== undefined ? { steps: options.steps } : {}),
    ...(options.bug !== undefined ? { bug: options.bug } : {}),
    ...(options.profile !== undefined ? { profile: options.profile } : {}),
    ...(options.preVote !== undefined ? { preVote: options.preVote } : {}),
    ...(options.checkQuorum !== undefined ? { checkQuorum: options.checkQuorum } : {}),
    ...(options.lincheckTimeoutMs !== undefined ? { lincheckTimeoutMs: options.lincheckTimeoutMs } : {}),
  };
}

/** The one summary line (the CLI's contract). */
export function formatSummary(s: RunSummary): string {
  return `sim: seeds=${s.seeds} steps=${s.ticks} faults=${s.faults} ops=${s.ops} violations=${s.violations}`;
}

/** A command that replays exactly this seed. */
export function replayCommand(result: SimResult, options: Omit<RunOptions, 'seeds'>): string {
  const flags: string[] = [];
  if (options.nodes !== undefined) flags.push(`--nodes ${options.nodes}`);
  if (options.steps !== undefined) flags.push(`--steps ${options.steps}`);
  if (options.bug !== undefined) flags.push(`--bug ${options.bug}`);
  if (options.profile !== undefined) flags.push(`--profile ${options.profile}`);
  if (options.preVote !== undefined) flags.push(`--prevote ${options.preVote ? 'on' : 'off'}`);
  if (options.checkQuorum !== undefined) flags.push(`--checkquorum ${options.checkQuorum ? 'on' : 'off'}`);
  if (flags.length === 0) return `make sim-core SEED=${result.seed}`;
  return `npx tsx test/sim/core/cli.ts --seed ${result.seed} ${flags.join(' ')}`;
}

export function describeViolation(v: Violation): string {
  const where = v.node === undefined ? '' : ` node ${v.node}`;
  return `[${v.invariant}] tick ${v.tick}${where}: ${v.message}`;
}

export function describeFailure(result: SimResult, options: Omit<RunOptions, 'seeds'>): string {
  const head = `seed ${result.seed} (${result.nodes} nodes, profile ${result.profile}${result.bug !== undefined ? `, bug ${result.bug}` : ''}): ${result.violationCount} violation(s)`;
  const lines = [head, ...result.violations.slice(0, 5).map((v) => `  ${describeViolation(v).replace(/\n/g, '\n    ')}`)];
  lines.push(`  replay: ${replayCommand(result, options)}`);
  return lines.join('\n');
}
