/** The options of a node's watch service: one object, validated once, frozen. */

export interface WatchOptions {
  /** Changes the node keeps for watchers to start or resume from (whole entries are dropped, oldest first). @default 65_536 */
  readonly ringEventsMax?: number;
  /** About this many bytes of changes kept (session data as JSON plus a fixed cost per change). @default 64 MiB */
  readonly ringBytesMax?: number;
  /** Per watcher: matching changes not yet written to its stream; one more cuts it off RESOURCE_EXHAUSTED. @default 1_024 */
  readonly queueEventsMax?: number;
  /** Per watcher: about this many bytes of such changes. @default 4 MiB */
  readonly queueBytesMax?: number;
  /** Watch streams open on this node at once; one more is refused RESOURCE_EXHAUSTED. @default 256 */
  readonly streamsMax?: number;
  /** Events in one response, at most. @default 256 */
  readonly responseEventsMax?: number;
  /** A response is cut once its events reach about this many bytes (at least one event each). @default 256 KiB */
  readonly responseBytesMax?: number;
  /** A watcher with nothing to send is told the index it has seen everything up to at most this often. @default 1_000 */
  readonly progressIntervalMs?: number;
}

export type ResolvedWatchOptions = { readonly [K in keyof WatchOptions]-?: number };

const MiB = 1024 * 1024;

export const WATCH_DEFAULTS: ResolvedWatchOptions = Object.freeze({
  ringEventsMax: 65_536,
  ringBytesMax: 64 * MiB,
  queueEventsMax: 1_024,
  queueBytesMax: 4 * MiB,
  streamsMax: 256,
  responseEventsMax: 256,
  responseBytesMax: 256 * 1024,
  progressIntervalMs: 1_000,
});

export function resolveWatchOptions(input: WatchOptions = {}): ResolvedWatchOptions {
  const options = { ...WATCH_DEFAULTS } as { -readonly [K in keyof ResolvedWatchOptions]: number };
  for (const key of Object.keys(WATCH_DEFAULTS) as (keyof ResolvedWatchOptions)[]) {
    const value = input[key] ?? WATCH_DEFAULTS[key];
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`watch option ${key} must be a positive integer, got ${value}`);
    options[key] = value;
  }
  return Object.freeze(options);
}
