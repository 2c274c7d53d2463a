import { describe, expect, it } from 'vitest';
import { snapshotDue, snapshotPhaseFraction } from '../../../src/node/snapshots.js';

/** The indexes at which node `id` takes its snapshots while applying 1..lastIndex one by one. */
function snapshotPoints(id: number, lastIndex: number, thresholdEntries: number): number[] {
  const points: number[] = [];
  let lastSnapshotIndex = 0;
  for (let applied = 1; applied <= lastIndex; applied++) {
    const due = snapshotDue({
      appliedSinceSnapshot: applied - lastSnapshotIndex,
      sessionCount: 0,
      thresholdEntries,
      phaseFraction: snapshotPhaseFraction(id),
      phased: points.length > 0,
    });
    if (due) {
      points.push(applied);
      lastSnapshotIndex = applied;
    }
  }
  return points;
}

describe('own snapshot points', () => {
  it('are a period apart on each node, and nodes 1-5 never snapshot within a tenth of a period of each other', () => {
    const threshold = 1_000;
    const byNode = [1, 2, 3, 4, 5].map((id) => snapshotPoints(id, 20_000, threshold));
    for (const points of byNode) {
      expect(points.length).toBeGreaterThanOrEqual(10);
      for (let i = 1; i < points.length; i++) expect(points[i]! - points[i - 1]!).toBe(threshold);
    }
    for (let a = 0; a < byNode.length; a++) {
      for (let b = a + 1; b < byNode.length; b++) {
        const closest = Math.min(...byNode[a]!.map((p) => Math.min(...byNode[b]!.map((q) => Math.abs(p - q)))));
        expect(closest, `nodes ${a + 1} and ${b + 1}`).toBeGreaterThanOrEqual(threshold / 10);
      }
    }
  });

  it('grow the period with the state (half the sessions) so the CPU per entry stays constant', () => {
    const due = (applied: number, sessionCount: number): boolean =>
      snapshotDue({ appliedSinceSnapshot: applied, sessionCount, thresholdEntries: 100, phaseFraction: 0.5, phased: true });
    expect(due(100, 0)).toBe(true);
    expect(due(100, 1_000)).toBe(false);
    expect(due(500, 1_000)).toBe(true);
  });
});
