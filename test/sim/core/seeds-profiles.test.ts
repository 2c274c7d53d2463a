/**
 * 400 more seeds over the scenario profiles (the ones the planted-bug tests use, without the
 * bug): each must hold every invariant, so a planted bug's detection is the bug's doing.
 */
import { describe, expect, it } from 'vitest';
import type { ProfileName } from './profiles.js';
import { type RunOptions, describeFailure, runSeeds } from './runner.js';

const RUNS: readonly { profile: ProfileName; seeds: number; nodes?: 3 | 5; steps?: number }[] = [
  { profile: 'calm', seeds: 40 },
  { profile: 'voteCrash', seeds: 60, nodes: 3 },
  { profile: 'voteCrash', seeds: 40, nodes: 5 },
  { profile: 'figure8', seeds: 60, steps: 600 },
  { profile: 'membership', seeds: 50, nodes: 5 },
  { profile: 'membership', seeds: 50, nodes: 3 },
  { profile: 'staleLeader', seeds: 50 },
  { profile: 'leaderChurn', seeds: 50 },
];

describe('simulation: scenario profiles without bugs', () => {
  it('covers 400 seeds', async () => {
    expect(RUNS.reduce((n, r) => n + r.seeds, 0)).toBe(400);
  });

  for (const run of RUNS) {
    const name = `${run.profile}${run.nodes !== undefined ? ` (${run.nodes} nodes)` : ''}: ${run.seeds} seeds`;
    it(`${name} hold every invariant`, async () => {
      const options: Omit<RunOptions, 'seeds'> = {
        profile: run.profile,
        firstSeed: 10_001,
        ...(run.nodes !== undefined ? { nodes: run.nodes } : {}),
        ...(run.steps !== undefined ? { steps: run.steps } : {}),
      };
      const summary = await runSeeds({ ...options, seeds: run.seeds });
      expect(summary.failures.map((f) => describeFailure(f, options))).toEqual([]);
      expect(summary.ops).toBeGreaterThan(run.seeds);
    });
  }
});
