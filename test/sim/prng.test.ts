import { describe, expect, it } from 'vitest';
import { Prng } from './prng.js';

describe('Prng', () => {
  it('replays the same sequence for the same seed', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 100 }, () => a.nextU32());
    const ys = Array.from({ length: 100 }, () => b.nextU32());
    expect(xs).toEqual(ys);
  });

  it('gives different sequences for different seeds, including seeds above 2^32', () => {
    const seqs = [0, 1, 2, 2 ** 32, 2 ** 32 + 1, 2 ** 52].map((s) => {
      const r = new Prng(s);
      return Array.from({ length: 4 }, () => r.nextU32()).join(',');
    });
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('keeps float, int and pick in range and roughly uniform', () => {
    const r = new Prng(7);
    const counts = [0, 0, 0, 0, 0, 0];
    let fMin = 1;
    let fMax = 0;
    for (let i = 0; i < 60_000; i++) {
      const f = r.float();
      fMin = Math.min(fMin, f);
      fMax = Math.max(fMax, f);
      const k = r.int(0, 5);
      counts[k] = (counts[k] ?? 0) + 1;
    }
    expect(fMin).toBeGreaterThanOrEqual(0);
    expect(fMax).toBeLessThan(1);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(60_000);
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(600);
    expect(['a', 'b']).toContain(r.pick(['a', 'b']));
    expect(() => r.pick([])).toThrow(RangeError);
    expect(() => r.int(3, 2)).toThrow(RangeError);
  });

  it('chance(0) never fires and chance(1) always does', () => {
    const r = new Prng(3);
    for (let i = 0; i < 1000; i++) {
      expect(r.chance(0)).toBe(false);
      expect(r.chance(1)).toBe(true);
    }
  });

  it('forks streams by name, independent of how far the parent has run', () => {
    const a = new Prng(9);
    const b = new Prng(9);
    for (let i = 0; i < 10; i++) b.nextU32();
    expect(a.fork('net').nextU32()).toBe(b.fork('net').nextU32());
    expect(a.fork('net').nextU32()).not.toBe(a.fork('faults').nextU32());
  });

  it('shuffles into a permutation', () => {
    const r = new Prng(11);
    const xs = r.shuffle([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...xs].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('rejects seeds that are not safe non-negative integers', () => {
    expect(() => new Prng(-1)).toThrow(RangeError);
    expect(() => new Prng(1.5)).toThrow(RangeError);
    expect(() => new Prng(2 ** 53)).toThrow(RangeError);
  });
});
