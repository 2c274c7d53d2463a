/**
 * WatchHub: a node's watch service. The node tells it every change it applies (it is the node's
 * AppliedChangesSink); it keeps them in an EventRing and serves each watch stream from there.
 * IO-free: the stream is a WatchOutput, time comes from `nowMs`.
 */
import type { LogIndex } from '../raft/index.js';
import type { SessionChange } from '../session/index.js';
import { WatchClosedError, WatchOutOfRangeError, WatchOverloadedError } from './errors.js';
import { resolveWatchOptions, type ResolvedWatchOptions, type WatchOptions } from './options.js';
import { EventRing } from './ring.js';
import type { AppliedChangesSink, WatchOutput, WatchRequest, WatchSource, WatchSubscription } from './types.js';
import { Watcher } from './watcher.js';

export interface WatchStats {
  readonly watchers: number;
  readonly ringEvents: number;
  readonly ringBytes: number;
  /** The oldest index a watch can start from. */
  readonly firstIndex: number;
  readonly appliedIndex: number;
  /** Changes queued in all live watchers together. */
  readonly queuedEvents: number;
}

export class WatchHub implements AppliedChangesSink, WatchSource {
  readonly options: ResolvedWatchOptions;
  private readonly ring: EventRing;
  private readonly watchers = new Set<Watcher>();
  private closedBecause: Error | undefined;

  /**
   * @param nowMs the clock of progress reports. @default Date.now
   * @param schedule how a watcher's writes are deferred past the node's apply step (tests pass a synchronous one). @default setImmediate
   */
  constructor(
    options: WatchOptions = {},
    private readonly nowMs: () => number = Date.now,
    private readonly schedule: (pump: () => void) => void = setImmediate,
  ) {
    this.options = resolveWatchOptions(options);
    this.ring = new EventRing(this.options);
  }

  // ---- the node's side

  reset(appliedIndex: LogIndex): void {
    const before = this.ring.appliedIndex;
    this.ring.reset(appliedIndex);
    for (const watcher of [...this.watchers]) {
      if (watcher.nextIndex > appliedIndex) continue;
      watcher.fail(
        new WatchOutOfRangeError(
          appliedIndex + 1,
          `this node replaced its state with a snapshot at index ${appliedIndex} (it was at ${before}): the changes from index ${watcher.nextIndex} ` +
            `are not known here; watch another node, or from index ${appliedIndex + 1}`,
        ),
      );
    }
  }

  applied(changes: readonly SessionChange[], appliedIndex: LogIndex): void {
    const added = this.ring.append(changes, appliedIndex);
    for (const watcher of [...this.watchers]) watcher.appended(added);
  }

  // ---- the streams' side

  subscribe(request: WatchRequest, output: WatchOutput): WatchSubscription {
    if (this.closedBecause !== undefined) throw this.closedBecause;
    const ring = this.ring;
    const from = request.fromIndex === 0 ? { index: ring.appliedIndex + 1, position: 0 } : { index: request.fromIndex, position: request.fromPosition };
    if (from.index < ring.firstIndex) {
      throw new WatchOutOfRangeError(
        ring.firstIndex,
        `from_index: ${from.index} is older than the oldest index this node can serve, ${ring.firstIndex} (it keeps the last ` +
          `${this.options.ringEventsMax} changes, and none from before it started or installed a snapshot); watch from ${ring.firstIndex} or later, or another node`,
      );
    }
    if (this.watchers.size >= this.options.streamsMax) {
      throw new WatchOverloadedError(`watch streamsMax (${this.options.streamsMax}) watch streams open on this node: back off and retry, or watch another node`);
    }
    let registered = true;
    const watcher = new Watcher(
      ring,
      this.options,
      request.clientId,
      from,
      output,
      this.nowMs,
      (w) => {
        registered = false;
        this.watchers.delete(w);
      },
      this.schedule,
    );
    if (registered) this.watchers.add(watcher);
    return { cancel: () => watcher.close() };
  }

  /** Ends every watch stream with `error` (UNAVAILABLE: the node is stopping) and refuses new ones. */
  close(error: Error = new WatchClosedError('the node is stopping: watch another node')): void {
    this.closedBecause ??= error;
    for (const watcher of [...this.watchers]) watcher.fail(this.closedBecause);
  }

  stats(): WatchStats {
    let queuedEvents = 0;
    for (const watcher of this.watchers) queuedEvents += watcher.queuedEvents;
    return {
      watchers: this.watchers.size,
      ringEvents: this.ring.size,
      ringBytes: this.ring.bytes,
      firstIndex: this.ring.firstIndex,
      appliedIndex: this.ring.appliedIndex,
      queuedEvents,
    };
  }
}
