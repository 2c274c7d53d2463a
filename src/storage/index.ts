export * from './types.js';
export { StorageCorruptionError } from './errors.js';
export { STATE_KEY_BYTES_MAX, compareStateKeys } from './codec.js';
export { openLevelStorage, type LevelStorage } from './level.js';
export type { LevelStorageOptions } from './options.js';
export { createMemoryStorage, type MemoryStorage, type MemoryStorageOptions, type RestartOptions } from './memory.js';
