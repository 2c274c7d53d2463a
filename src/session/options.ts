/**
 * Options of the session state machine. Everything here that apply() uses (dataBytesMax and
 * the dedup bounds) must be equal on every replica: two replicas with different limits would
 * answer the same entry differently and their states would diverge.
 */
import { TTL_MS_MAX, TTL_MS_MIN } from './validate.js';

export interface SessionStateMachineOptions {
  /**
   * TTL a create gets when it asks for none (ttlMs 0). Applied by the proposer through
   * validateCommand(), never inside apply(). Within [1 s, 30 days].
   * @default 3_600_000 (1 hour)
   */
  readonly defaultTtlMs?: number;
  /**
   * Largest session data object in bytes of UTF-8 JSON (also bounds an update's merge and
   * the data after the merge). Within [256, 16 MiB].
   * @default 65_536
   */
  readonly dataBytesMax?: number;
  /**
   * Exactly-once table: remembered answers, cluster-wide; the oldest (by log index) is
   * evicted beyond it. Within [1, 10_000_000].
   * @default 100_000
   */
  readonly dedupEntriesMax?: number;
  /**
   * Exactly-once table: remembered answers per request client; its oldest is evicted beyond
   * it. Must exceed the number of requests a client keeps in flight. Within [1, 10_000_000].
   * @default 1_000
   */
  readonly dedupEntriesPerClientMax?: number;
  /**
   * Exactly-once table: estimated bytes of remembered answers (a create's or update's answer
   * holds the whole session); the oldest is evicted beyond it, the newest is always kept.
   * Within [1 KiB, 64 GiB].
   * @default 67_108_864 (64 MiB)
   */
  readonly dedupBytesMax?: number;
}

export type ResolvedSessionStateMachineOptions = Readonly<Required<SessionStateMachineOptions>>;

export const SESSION_STATE_MACHINE_DEFAULTS: ResolvedSessionStateMachineOptions = Object.freeze({
  defaultTtlMs: 3_600_000,
  dataBytesMax: 65_536,
  dedupEntriesMax: 100_000,
  dedupEntriesPerClientMax: 1_000,
  dedupBytesMax: 64 * 1024 * 1024,
});

const RANGES: { readonly [K in keyof ResolvedSessionStateMachineOptions]: readonly [number, number] } = {
  defaultTtlMs: [TTL_MS_MIN, TTL_MS_MAX],
  dataBytesMax: [256, 16 * 1024 * 1024],
  dedupEntriesMax: [1, 10_000_000],
  dedupEntriesPerClientMax: [1, 10_000_000],
  dedupBytesMax: [1024, 64 * 1024 * 1024 * 1024],
};

/** Fills in defaults, checks every value (RangeError naming the option), and freezes. */
export function resolveSessionStateMachineOptions(options: SessionStateMachineOptions = {}): ResolvedSessionStateMachineOptions {
  for (const key of Object.keys(options)) {
    if (!(key in RANGES)) throw new RangeError(`SessionStateMachineOptions: unknown option "${key}"`);
  }
  const resolved = { ...SESSION_STATE_MACHINE_DEFAULTS };
  for (const key of Object.keys(RANGES) as (keyof ResolvedSessionStateMachineOptions)[]) {
    const value = options[key] ?? SESSION_STATE_MACHINE_DEFAULTS[key];
    const [min, max] = RANGES[key];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new RangeError(`SessionStateMachineOptions.${key} must be an integer within [${min}, ${max}], got ${value}`);
    }
    resolved[key] = value;
  }
  return Object.freeze(resolved);
}
