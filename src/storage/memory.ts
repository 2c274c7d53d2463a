/**
 * In-memory stores with the same contracts as the LevelDB ones (the same plan functions decide
 * truncation), for the deterministic simulation and unit tests. Everything is synchronous
 * underneath; restart() models a crash of the process or of the machine.
 */
import { logIndex } from '../raft/index.js';
import { EMPTY_HARD_STATE } from './codec.js';
import { MemoryDisk, emptyImage, type DiskImage } from './memory-disk.js';
import { MemoryLogStore } from './memory-log.js';
import { MemorySnapshotStore, MemoryStateStore } from './memory-state.js';
import { positiveInteger } from './options.js';
import type { Storage } from './types.js';

export interface MemoryStorageOptions {
  /**
   * Unsynced writes (state commits, compactions) the simulated disk remembers as losable;
   * older ones count as written back by the OS. @default 10_000
   */
  readonly unsyncedWritesMax?: number;
}

export interface RestartOptions {
  /**
   * How many unsynced writes (oldest first) survive. @default Infinity — a process crash: the
   * OS still holds them. 0 models a power loss right after the last fsync.
   */
  readonly unsyncedWritesKept?: number;
}

export interface MemoryStorage extends Storage {
  /** Writes a power loss could lose right now (state commits and compactions since the last sync). */
  readonly unsyncedWrites: number;
  /** The storage a restarted process finds on this disk. This instance stops working. */
  restart(options?: RestartOptions): MemoryStorage;
}

export function createMemoryStorage(options: MemoryStorageOptions = {}): MemoryStorage {
  const unsyncedWritesMax = options.unsyncedWritesMax ?? 10_000;
  positiveInteger('unsyncedWritesMax', unsyncedWritesMax);
  return storageOver(emptyImage(EMPTY_HARD_STATE, logIndex(0)), unsyncedWritesMax);
}

function storageOver(image: DiskImage, unsyncedWritesMax: number): MemoryStorage {
  const disk = new MemoryDisk(image, unsyncedWritesMax);
  const log = new MemoryLogStore(disk);
  const state = new MemoryStateStore(disk);
  return {
    log,
    state,
    snapshots: new MemorySnapshotStore(disk),
    get unsyncedWrites() {
      return disk.unsyncedWrites;
    },
    async close() {
      await Promise.all([log.close(), state.close()]);
    },
    restart(options: RestartOptions = {}) {
      return storageOver(disk.crash(options.unsyncedWritesKept ?? Infinity), unsyncedWritesMax);
    },
  };
}
