import { describe, expect, it } from 'vitest';
import { logIndex } from '../../../src/raft/index.js';
import { createMemoryStorage, type MemoryStorage } from '../../../src/storage/index.js';
import { registerStorageConformance } from './conformance.js';
import { bytes, entries, hardState, loadedIndexTerms, snapshotMeta, stateContents } from './fixtures.js';

registerStorageConformance('memory', async () => {
  let current: MemoryStorage = createMemoryStorage();
  return {
    storage: current,
    async reopen() {
      await current.close();
      current = current.restart();
      return current;
    },
    async cleanup() {
      await current.close();
    },
  };
});

describe('memory storage crash model', () => {
  it('keeps unsynced writes across a process crash and a prefix of them across a power loss', async () => {
    const storage = createMemoryStorage();
    await storage.log.save({ hardState: hardState(1, 1, 3), entries: entries(1, 3, 1) });
    for (const index of [1, 2, 3]) {
      await storage.state.commit([{ type: 'put', key: `k${index}`, value: bytes(`${index}`) }], logIndex(index));
    }
    expect(storage.unsyncedWrites).toBe(3);

    const powerLoss = storage.restart({ unsyncedWritesKept: 1 });
    expect(await powerLoss.state.appliedIndex()).toBe(1);
    expect(await stateContents(powerLoss.state)).toEqual([['k1', '1']]);
    expect(await loadedIndexTerms(powerLoss.log)).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);

    const processCrash = powerLoss.restart();
    expect(await processCrash.state.appliedIndex()).toBe(1);
  });

  it('makes earlier unsynced writes durable with the next synced one (one ordered WAL)', async () => {
    const storage = createMemoryStorage();
    await storage.log.save({ hardState: hardState(1, 1, 2), entries: entries(1, 2, 1) });
    await storage.state.commit([{ type: 'put', key: 'a', value: bytes('1') }], logIndex(2));
    await storage.log.compact(snapshotMeta(2, 1));
    await storage.log.save({ entries: entries(3, 3, 1) });
    expect(storage.unsyncedWrites).toBe(0);
    const restarted = storage.restart({ unsyncedWritesKept: 0 });
    expect(await restarted.state.appliedIndex()).toBe(2);
    const loaded = await restarted.log.load();
    expect(loaded.snapshot?.index).toBe(2);
    expect(loaded.entries.map((e) => e.index)).toEqual([3]);
  });

  it('kills the old instance on restart', async () => {
    const storage = createMemoryStorage();
    storage.restart();
    await expect(storage.log.load()).rejects.toThrow(/restarted/);
    await expect(storage.state.commit([], logIndex(1))).rejects.toThrow(/restarted/);
  });

  it('bounds the unsynced journal: the oldest writes become durable', async () => {
    const storage = createMemoryStorage({ unsyncedWritesMax: 2 });
    for (const index of [1, 2, 3, 4]) await storage.state.commit([], logIndex(index));
    expect(storage.unsyncedWrites).toBe(2);
    expect(await storage.restart({ unsyncedWritesKept: 0 }).state.appliedIndex()).toBe(2);
  });

  it('validates its options', () => {
    expect(() => createMemoryStorage({ unsyncedWritesMax: 0 })).toThrow(RangeError);
  });
});
