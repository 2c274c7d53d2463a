/**
 * Why a watch stream ends early. Each maps to one gRPC status in src/server/errors.ts:
 * out of range → OUT_OF_RANGE (with the oldest index the node can serve), overloaded →
 * RESOURCE_EXHAUSTED, closed → UNAVAILABLE.
 */
export class WatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The changes a watcher needs are no longer (or not) kept by this node. */
export class WatchOutOfRangeError extends WatchError {
  constructor(
    /** The oldest log index this node can serve a watch from. */
    readonly oldestIndex: number,
    message: string,
  ) {
    super(message);
  }
}

/** A bound was reached: too many watch streams, or a watcher that does not keep up. */
export class WatchOverloadedError extends WatchError {}

/** The node stopped serving watches (it is stopping or failed): watch another node. */
export class WatchClosedError extends WatchError {}
