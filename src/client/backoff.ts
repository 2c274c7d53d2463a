/**
 * The pause before retry number `retries` (0-based): exponential from `baseMs`, capped at `maxMs`,
 * with "equal jitter" (between half and all of it), so clients that failed together do not retry
 * together.
 */
export function retryPauseMs(retries: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const capped = Math.min(baseMs * 2 ** Math.max(0, retries), maxMs);
  return capped * (0.5 + random() / 2);
}
