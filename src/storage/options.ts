/** Options of the LevelDB storage, validated once and frozen. */
export interface LevelStorageOptions {
  /**
   * Writes (save, compact, commit...) a store accepts while earlier ones are still running;
   * the runtime is one loop, so this is a guard against a runaway caller, not a throttle.
   * @default 1024
   */
  readonly queuedWritesMax?: number;
  /** LevelDB block cache. @default 8 MiB */
  readonly cacheSizeBytes?: number;
  /** LevelDB memtable size before it is flushed to a table file. @default 4 MiB */
  readonly writeBufferSizeBytes?: number;
}

export type ResolvedLevelStorageOptions = Readonly<Required<LevelStorageOptions>>;

const DEFAULTS: ResolvedLevelStorageOptions = {
  queuedWritesMax: 1024,
  cacheSizeBytes: 8 * 1024 * 1024,
  writeBufferSizeBytes: 4 * 1024 * 1024,
};

export function resolveLevelStorageOptions(options: LevelStorageOptions = {}): ResolvedLevelStorageOptions {
  const resolved = { ...DEFAULTS, ...stripUndefined(options) };
  positiveInteger('queuedWritesMax', resolved.queuedWritesMax);
  positiveInteger('cacheSizeBytes', resolved.cacheSizeBytes);
  positiveInteger('writeBufferSizeBytes', resolved.writeBufferSizeBytes);
  return Object.freeze(resolved);
}

export function positiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be an integer ≥ 1, got ${value}`);
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
