/**
 * openLevelStorage: a node's storage on disk. The log and the state machine share ONE LevelDB
 * (<dataDir>/db), so its write-ahead log orders their batches: a synced log save also makes
 * every earlier state commit durable, and a crash keeps a prefix of the writes.
 */
import { join } from 'node:path';
import { SharedDb, openLevelDb, type LevelDb } from './level-db.js';
import { LevelLogStore } from './level-log.js';
import { LevelStateStore } from './level-state.js';
import { resolveLevelStorageOptions, type LevelStorageOptions } from './options.js';
import { SnapshotFiles } from './snapshot-files.js';
import type { Storage } from './types.js';

export interface LevelStorage extends Storage {
  readonly dataDir: string;
  /** The raw database, for diagnostics (db.getProperty('leveldb.stats')) and tests. Do not write to it. */
  readonly db: LevelDb;
}

export async function openLevelStorage(dataDir: string, options?: LevelStorageOptions): Promise<LevelStorage> {
  const resolved = resolveLevelStorageOptions(options);
  const db = await openLevelDb(join(dataDir, 'db'), resolved);
  const shared = new SharedDb(db, 2);
  try {
    const log = await LevelLogStore.open(shared, resolved.queuedWritesMax);
    const state = await LevelStateStore.open(shared, resolved.queuedWritesMax);
    const snapshots = new SnapshotFiles(join(dataDir, 'snapshots'), resolved.queuedWritesMax);
    return {
      log,
      state,
      snapshots,
      dataDir,
      db,
      async close() {
        await Promise.all([log.close(), state.close(), snapshots.drain()]);
      },
    };
  } catch (error) {
    await db.close();
    throw error;
  }
}
