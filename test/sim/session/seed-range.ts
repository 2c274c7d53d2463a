/**
 * The bulk seeds of the simulation of real nodes, split over several test files so that vitest
 * runs them in parallel workers: each file calls describeSeedRange with its own range. A failing
 * seed prints its violation and the command that replays it.
 */
import { describe, expect, it } from 'vitest';
import { runSessionSimulation } from './sim.js';

/** Seeds per test case (a progress line each; one case stays well inside its timeout). */
const SEEDS_PER_CASE = 50;
const CASE_TIMEOUT_MS = 300_000;

export function describeSeedRange(firstSeed: number, seeds: number): void {
  describe(`the simulation of real nodes: seeds ${firstSeed}-${firstSeed + seeds - 1}`, () => {
    for (let first = firstSeed; first < firstSeed + seeds; first += SEEDS_PER_CASE) {
      const last = Math.min(first + SEEDS_PER_CASE, firstSeed + seeds) - 1;
      it(`seeds ${first}-${last} run with no violation`, async () => {
        const failures: string[] = [];
        let ops = 0;
        let crashes = 0;
        let installs = 0;
        let memberSeeds = 0;
        let memberChanges = 0;
        for (let seed = first; seed <= last; seed++) {
          const result = await runSessionSimulation({ seed });
          ops += result.ops;
          crashes += result.crashes;
          installs += result.snapshotInstalls;
          if (result.membership) memberSeeds++;
          memberChanges += result.memberChanges;
          if (result.violations.length > 0) failures.push(`seed ${seed}: ${result.violations[0]}\n  replay: npx tsx test/sim/session/cli.ts --seed ${seed}`);
        }
        const count = last - first + 1;
        expect(failures).toEqual([]);
        // The seeds did something: operations, crashes, snapshot installs, membership changes
        // (about half the seeds run the membership workload).
        expect(ops).toBeGreaterThan(count * 50);
        expect(crashes).toBeGreaterThan(count);
        expect(installs).toBeGreaterThan(count / 5);
        expect(memberSeeds).toBeGreaterThan(count / 5);
        expect(memberChanges).toBeGreaterThan(memberSeeds);
      }, CASE_TIMEOUT_MS);
    }
  });
}
