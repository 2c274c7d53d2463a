/**
 * Watch: the changes a node applied, kept in a bounded ring and streamed to watchers
 * (SessionService/Watch). The node feeds a WatchHub (its AppliedChangesSink); the server
 * subscribes streams to it (WatchSource). Depends on session/ and raft/ types only.
 */
export { WatchHub, type WatchStats } from './hub.js';
export { EventRing, EVENT_FIXED_BYTES, ringEvent } from './ring.js';
export { Watcher, WRITES_INFLIGHT_MAX } from './watcher.js';
export { WATCH_DEFAULTS, resolveWatchOptions, type ResolvedWatchOptions, type WatchOptions } from './options.js';
export { WatchError, WatchOutOfRangeError, WatchOverloadedError, WatchClosedError } from './errors.js';
export {
  compareCursors,
  type AppliedChangesSink,
  type RingEvent,
  type WatchBatch,
  type WatchCursor,
  type WatchOutput,
  type WatchRequest,
  type WatchSource,
  type WatchSubscription,
} from './types.js';
