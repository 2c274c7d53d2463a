/**
 * A seeded PRNG (xoshiro128**, seeded through splitmix32). Every random choice of the
 * simulation comes from one of these, so a seed replays exactly: no Math.random, no clock.
 */

const U32 = 0x1_0000_0000;

/** splitmix32: turns any 32-bit value into a well-mixed one (used for seeding and hashing). */
export function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Mixes a string label into a 32-bit value (FNV-1a), for forking named sub-streams. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** The seed this stream was built from (a non-negative integer below 2^53). */
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`Prng seed must be a safe non-negative integer, got ${seed}`);
    }
    this.seed = seed;
    const lo = seed >>> 0;
    const hi = Math.floor(seed / U32) >>> 0;
    this.s0 = splitmix32(lo);
    this.s1 = splitmix32(this.s0 ^ hi);
    this.s2 = splitmix32(this.s1 + 0x6a09e667);
    this.s3 = splitmix32(this.s2 ^ 0xbb67ae85);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s3 = 1; // xoshiro's one bad state
  }

  /** A uniformly random unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.nextU32() / U32;
  }

  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    if (!(max >= min)) throw new RangeError(`Prng.int: max ${max} < min ${min}`);
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Prng.pick from an empty list');
    return items[Math.floor(this.float() * items.length)] as T;
  }

  /** Fisher-Yates, in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.float() * (i + 1));
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /**
   * An independent stream named by `label`, derived from this stream's seed (not from its
   * position), so adding draws to one stream never shifts another.
   */
  fork(label: string): Prng {
    const h = splitmix32(hashLabel(label) ^ splitmix32(this.seed >>> 0));
    const hi = splitmix32(h ^ Math.floor(this.seed / U32));
    return new Prng((hi & 0x1f_ffff) * U32 + h);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
