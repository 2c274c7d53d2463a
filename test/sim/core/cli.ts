/**
 * The simulation's command line:
 *   npx tsx test/sim/core/cli.ts --seeds N [--seed S | --from S] [--nodes 3|5] [--steps K]
 *                           [--bug NAME] [--profile NAME] [--prevote on|off]
 *                           [--checkquorum on|off] [--verbose]
 * `--seed S` replays that one seed; `--from S` runs N seeds starting at S. Prints one summary
 * line (`sim: seeds=… steps=… faults=… ops=… violations=…`), a steps/s line, and for each failing
 * seed its violations and a replay command; exits 1 on any violation, 2 on bad arguments.
 */
import { BUG_NAMES, PROFILE_NAMES, type BugName, type ProfileName, isBugName, profileNamed } from './profiles.js';
import { type RunOptions, describeFailure, formatSummary, runSeeds } from './runner.js';

interface CliArgs {
  readonly run: RunOptions;
  readonly verbose: boolean;
}

function parseArgs(argv: readonly string[]): CliArgs {
  let seeds = 1;
  let firstSeed: number | undefined;
  let single: number | undefined;
  let nodes: 3 | 5 | undefined;
  let steps: number | undefined;
  let bug: BugName | undefined;
  let profile: ProfileName | undefined;
  let preVote: boolean | undefined;
  let checkQuorum: boolean | undefined;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new RangeError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--seeds': seeds = positiveInt(flag, value()); break;
      case '--seed': single = nonNegativeInt(flag, value()); break;
      case '--from': firstSeed = nonNegativeInt(flag, value()); break;
      case '--steps': steps = nonNegativeInt(flag, value()); break;
      case '--nodes': {
        const n = value();
        if (n !== '3' && n !== '5') throw new RangeError(`--nodes must be 3 or 5, got ${n}`);
        nodes = n === '3' ? 3 : 5;
        break;
      }
      case '--bug': {
        const b = value();
        if (!isBugName(b)) throw new RangeError(`unknown bug '${b}' (known: ${BUG_NAMES.join(', ')})`);
        bug = b;
        break;
      }
      case '--profile': profile = profileNamed(value()).name; break;
      case '--prevote': preVote = onOff(flag, value()); break;
      case '--checkquorum': checkQuorum = onOff(flag, value()); break;
      case '--verbose': verbose = true; break;
      default: throw new RangeError(`unknown argument '${flag}' (profiles: ${PROFILE_NAMES.join(', ')})`);
    }
  }
  const run: RunOptions = {
    seeds: single !== undefined ? 1 : seeds,
    firstSeed: single ?? firstSeed ?? 1,
    ...(nodes !== undefined ? { nodes } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(bug !== undefined ? { bug } : {}),
    ...(profile !== undefined ? { profile } : {}),
    ...(preVote !== undefined ? { preVote } : {}),
    ...(checkQuorum !== undefined ? { checkQuorum } : {}),
  };
  return { run, verbose };
}

function onOff(flag: string, text: string): boolean {
  if (text !== 'on' && text !== 'off') throw new RangeError(`${flag} must be on or off, got '${text}'`);
  return text === 'on';
}

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${flag} must be a positive integer, got '${text}'`);
  return n;
}

function nonNegativeInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${flag} must be a non-negative integer, got '${text}'`);
  return n;
}

async function main(): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`sim: ${(error as Error).message}\n`);
    return 2;
  }
  const summary = await runSeeds({
    ...args.run,
    cpuMs: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
    onResult: args.verbose
      ? (r) => process.stderr.write(`seed ${r.seed}: ${r.nodes} nodes ${r.profile} ticks=${r.ticks} faults=${r.faults} ops=${r.ops} lincheck=${r.lincheck} violations=${r.violationCount} trace=${r.traceHash} ${JSON.stringify(r.stats)}\n`)
      : undefined,
  });
  process.stdout.write(`${formatSummary(summary)}\n`);
  const cpu = summary.ticksPerCpuSecond !== undefined ? `, ${summary.ticksPerCpuSecond} per CPU second` : '';
  process.stdout.write(
    `sim: ${summary.ticksPerSecond} steps/s${cpu} (${(summary.elapsedMs / 1000).toFixed(1)} s, lincheck undecided in ${summary.lincheckUnknown} seeds)\n`,
  );
  for (const failure of summary.failures) process.stdout.write(`${describeFailure(failure, args.run)}\n`);
  return summary.violations > 0 ? 1 : 0;
}

process.exitCode = await main();
