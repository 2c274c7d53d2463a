/** What the watch service is told by the node, and what it hands to a stream. */
import type { LogIndex } from '../raft/index.js';
import type { SessionChange } from '../session/index.js';

/**
 * The node's side: every change it applies, in order. `reset` says the state is now at
 * `appliedIndex` without the changes before it being known (start-up, a snapshot installed).
 */
export interface AppliedChangesSink {
  reset(appliedIndex: LogIndex): void;
  /** The changes of the entries just applied, up to and including `appliedIndex`. */
  applied(changes: readonly SessionChange[], appliedIndex: LogIndex): void;
}

/** A change as kept in the ring: its data as JSON made once for every watcher. */
export interface RingEvent {
  readonly change: SessionChange;
  readonly dataJson: string;
  /** About what it costs in memory and on the wire. */
  readonly bytes: number;
}

/** (index, position): the change a watch starts at, or the next one a watcher wants. */
export interface WatchCursor {
  readonly index: number;
  readonly position: number;
}

export interface WatchRequest {
  /** Only changes of this client's sessions; undefined = every client. */
  readonly clientId: string | undefined;
  /** 0: from the next entry this node applies. */
  readonly fromIndex: number;
  /** Skip this many changes of the entry at fromIndex (0 when fromIndex is 0). */
  readonly fromPosition: number;
}

/** One response: events in order, and the index every matching change up to which has now been sent. */
export interface WatchBatch {
  readonly events: readonly RingEvent[];
  readonly progressIndex: number;
}

/** Where a watcher's responses go (a gRPC stream, or a test's array). */
export interface WatchOutput {
  /** Writes one response; `done` once the transport took it (grpc's write callback). */
  write(batch: WatchBatch, done: () => void): void;
  /** Ends the stream with this error. Nothing is written after it. */
  fail(error: Error): void;
}

/** Serves watches: SessionService/Watch's view of the node's WatchHub. */
export interface WatchSource {
  /** Starts a watcher; throws WatchOutOfRangeError or WatchOverloadedError if it cannot. */
  subscribe(request: WatchRequest, output: WatchOutput): WatchSubscription;
}

export interface WatchSubscription {
  /** The stream went away: forget the watcher. */
  cancel(): void;
}

export function compareCursors(a: WatchCursor, b: WatchCursor): number {
  return a.index - b.index || a.position - b.position;
}
