/**
 * Invariant checks of the node loop. A broken one is a bug in the runtime (or the core), never an
 * operating error: it throws at once with the numbers involved, the loop dies, and the process
 * exits with code 70 (a supervisor restarts it from its disk).
 */
export class NodeInvariantError extends Error {
  constructor(message: string) {
    super(`node invariant violated: ${message}`);
    this.name = 'NodeInvariantError';
  }
}

export function invariant(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new NodeInvariantError(message());
}
