/**
 * Each planted bug must be caught: the five switches of the core (RaftOptions.plantedBugs) and
 * the harness's own sendBeforePersist. A bug runs its scenario profile (the fault mix where it
 * can matter; the same profiles run clean without the bug in seeds-profiles.test.ts) and the
 * detection comes from the generic invariant checks or the linearizability checker. A liveness
 * violation alone does not count as catching a safety bug.
 */
import { describe, expect, it } from 'vitest';
import { BUG_NAMES, PROFILE_FOR_BUG } from './profiles.js';
import { describeViolation } from './runner.js';
import { runSimulation } from './sim.js';

/** The CI budget: a bug not caught within this many seeds fails the test. */
const SEEDS_MAX = 200;

describe('planted bugs are caught', () => {
  for (const bug of BUG_NAMES) {
    it(`${bug} (profile ${PROFILE_FOR_BUG[bug]})`, async () => {
      let caught: { seed: number; what: string } | undefined;
      for (let seed = 1; seed <= SEEDS_MAX && caught === undefined; seed++) {
        const r = await runSimulation({ seed, bug });
        const safety = r.violations.find((v) => v.invariant !== 'liveness');
        if (safety !== undefined) caught = { seed, what: describeViolation(safety) };
      }
      expect(caught, `${bug} not caught within ${SEEDS_MAX} seeds`).toBeDefined();
      console.info(`planted bug ${bug}: caught at seed ${caught?.seed} — ${caught?.what.split('\n')[0]}`);
    });
  }
});
