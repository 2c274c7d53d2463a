/**
 * Exponential reconnect backoff with jitter: initial, doubling per consecutive failure, capped,
 * each delay scaled by a random factor in [1 - jitter, 1 + jitter] so peers that lost each
 * other at the same moment do not reconnect in lockstep.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly jitterRatio: number;
  /** In [0, 1). @default Math.random */
  readonly random?: () => number;
}

export class Backoff {
  private nextBaseMs: number;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    if (!(options.initialMs > 0 && options.maxMs >= options.initialMs)) {
      throw new RangeError(`backoff needs 0 < initialMs <= maxMs; got ${options.initialMs}, ${options.maxMs}`);
    }
    this.nextBaseMs = options.initialMs;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt; each call doubles the following one, up to maxMs. */
  nextDelayMs(): number {
    const baseMs = this.nextBaseMs;
    this.nextBaseMs = Math.min(this.options.maxMs, baseMs * 2);
    const factor = 1 - this.options.jitterRatio + 2 * this.options.jitterRatio * this.random();
    return Math.max(1, Math.round(baseMs * factor));
  }

  /** After a success: the next failure waits initialMs again. */
  reset(): void {
    this.nextBaseMs = this.options.initialMs;
  }
}
