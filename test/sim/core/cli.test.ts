/** The CLI's contract: one summary line, a replay command per failing seed, the exit code. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

function cli(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('sim CLI', () => {
  it('prints exactly one summary line and exits 0 when all seeds pass', () => {
    const r = cli('--seeds', '3', '--steps', '100');
    expect(r.code).toBe(0);
    const summaries = r.out.split('\n').filter((l) => l.startsWith('sim: seeds='));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatch(/^sim: seeds=3 steps=\d+ faults=\d+ ops=\d+ violations=0$/);
    expect(r.out).toMatch(/steps\/s/);
  });

  it('exits 1 on a violation and prints the violation and a replay command with the same flags', () => {
    const r = cli('--seed', '1', '--bug', 'voteNotPersisted', '--nodes', '3');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^sim: seeds=1 steps=\d+ faults=\d+ ops=\d+ violations=[1-9]\d*$/m);
    expect(r.out).toContain('[termVoteMonotonic]');
    expect(r.out).toContain('replay: npx tsx test/sim/core/cli.ts --seed 1 --nodes 3 --bug voteNotPersisted');
  });

  it('exits 2 on bad arguments', () => {
    expect(cli('--nodes', '4').code).toBe(2);
    expect(cli('--bug', 'nope').code).toBe(2);
    expect(cli('--frobnicate').code).toBe(2);
  });
});
