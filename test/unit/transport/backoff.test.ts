import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../src/transport/backoff.js';

describe('Backoff', () => {
  it('doubles from initial to max and resets', () => {
    const b = new Backoff({ initialMs: 50, maxMs: 2000, jitterRatio: 0 });
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(() => b.nextDelayMs())).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000]);
    b.reset();
    expect(b.nextDelayMs()).toBe(50);
  });

  it('jitters within [1 - ratio, 1 + ratio] of the base', () => {
    const low = new Backoff({ initialMs: 100, maxMs: 1000, jitterRatio: 0.2, random: () => 0 });
    const high = new Backoff({ initialMs: 100, maxMs: 1000, jitterRatio: 0.2, random: () => 0.999999 });
    expect([low.nextDelayMs(), low.nextDelayMs()]).toEqual([80, 160]);
    expect([high.nextDelayMs(), high.nextDelayMs()]).toEqual([120, 240]);
  });

  it('refuses nonsense', () => {
    expect(() => new Backoff({ initialMs: 0, maxMs: 10, jitterRatio: 0 })).toThrow(RangeError);
    expect(() => new Backoff({ initialMs: 20, maxMs: 10, jitterRatio: 0 })).toThrow(RangeError);
  });
});
