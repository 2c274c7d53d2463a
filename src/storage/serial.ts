/**
 * Runs async writes one at a time, in call order. A log store keeps its bounds in memory and
 * plans each write from them, so two writes must never interleave.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  constructor(
    private readonly name: string,
    private readonly queuedMax: number,
  ) {}

  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.queued >= this.queuedMax) {
      return Promise.reject(new Error(`${this.name}: ${this.queued} writes queued, the limit is ${this.queuedMax}`));
    }
    this.queued++;
    const result = this.tail.then(task);
    // The next write waits for this one whether it succeeds or fails.
    this.tail = result.then(
      () => this.queued--,
      () => this.queued--,
    );
    return result;
  }

  /** Resolves when every write queued so far has settled. */
  drain(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
