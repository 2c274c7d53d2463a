/**
 * Invariant checks of the consensus core. A broken invariant is a bug (in the core or in the
 * runtime driving it), never an operating error: it throws at once with the numbers involved,
 * so the simulation reports the first step that went wrong instead of a corrupted log later.
 */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(`raft invariant violated: ${message}`);
    this.name = 'RaftInvariantError';
  }
}

export function invariant(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new RaftInvariantError(message());
}
