import { describe, expect, it } from 'vitest';
import { retryPauseMs } from '../../../src/client/backoff.js';

describe('retry pauses', () => {
  it('double per retry up to the cap, each between half and all of it (equal jitter)', () => {
    expect(retryPauseMs(0, 50, 1_000, () => 0)).toBe(25);
    expect(retryPauseMs(0, 50, 1_000, () => 0.999_999)).toBeCloseTo(50, 3);
    expect(retryPauseMs(3, 50, 1_000, () => 0.5)).toBe(400 * 0.75);
    expect(retryPauseMs(10, 50, 1_000, () => 1)).toBe(1_000);
    expect(retryPauseMs(10, 50, 1_000, () => 0)).toBe(500);
  });

  it('spread clients that failed together', () => {
    const pauses = new Set(Array.from({ length: 50 }, () => Math.round(retryPauseMs(4, 50, 1_000))));
    expect(pauses.size).toBeGreaterThan(10);
    for (const pause of pauses) {
      expect(pause).toBeGreaterThanOrEqual(400);
      expect(pause).toBeLessThanOrEqual(800);
    }
  });
});
