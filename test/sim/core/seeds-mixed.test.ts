/**
 * The bulk of the simulation: 600 seeds of the mixed fault profile (every fault kind, cluster
 * size 3 or 5 chosen by the seed), no violation allowed. A failure prints its replay command.
 */
import { describe, expect, it } from 'vitest';
import { describeFailure, runSeeds } from './runner.js';

const SEEDS_PER_CASE = 50;
const CASES = 12;

describe('simulation: mixed profile, seeds 1-600', () => {
  const sizes = new Set<number>();
  for (let k = 0; k < CASES; k++) {
    const first = 1 + k * SEEDS_PER_CASE;
    it(`seeds ${first}-${first + SEEDS_PER_CASE - 1} hold every invariant`, async () => {
      const summary = await runSeeds({ seeds: SEEDS_PER_CASE, firstSeed: first, onResult: (r) => sizes.add(r.nodes) });
      expect(summary.failures.map((f) => describeFailure(f, {}))).toEqual([]);
      expect(summary.seeds).toBe(SEEDS_PER_CASE);
      expect(summary.faults).toBeGreaterThan(SEEDS_PER_CASE);
      expect(summary.ops).toBeGreaterThan(SEEDS_PER_CASE * 10);
    });
  }

  it('ran both cluster sizes', async () => {
    expect([...sizes].sort()).toEqual([3, 5]);
  });
});
