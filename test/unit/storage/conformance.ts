/**
 * The storage conformance suite: every implementation of the storage contracts (LevelDB,
 * in-memory) registers these tests with its own factory and must pass all of them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { logIndex, type Entry } from '../../../src/raft/index.js';
import type { Storage } from '../../../src/storage/index.js';
import { bytes, entries, entry, hardState, loadedIndexTerms, snapshotMeta, stateContents } from './fixtures.js';

export interface StorageHarness {
  readonly storage: Storage;
  /** Closes `storage` (really: on disk, a close and a new open) and opens it again. */
  reopen(): Promise<Storage>;
  /** Closes whatever is open and removes what the harness created. Safe after a failure. */
  cleanup(): Promise<void>;
}

export type StorageFactory = () => Promise<StorageHarness>;

export function registerStorageConformance(name: string, factory: StorageFactory): void {
  describe(`storage conformance: ${name}`, () => {
    let harness: StorageHarness;
    let storage: Storage;

    beforeEach(async () => {
      harness = await factory();
      storage = harness.storage;
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    describe('raft log', () => {
      registerLogTests(() => storage);
    });
    describe('snapshot install and compaction', () => {
      registerSnapshotLogTests(() => storage);
    });
    describe('state store', () => {
      registerStateTests(() => storage);
    });
    describe('snapshot store', () => {
      registerSnapshotStoreTests(() => storage);
    });
    describe('snapshot install in batches', () => {
      it('clears the state and marks it at begin, adds batches, and sets the applied index and unmarks it last', async () => {
        const { state } = storage;
        await state.commit(['a', 'b', 'z'].map((key) => ({ type: 'put' as const, key, value: bytes(key) })), logIndex(5));
        expect(await state.installing()).toBe(false);
        await state.beginInstall(logIndex(40));
        expect(await state.installing()).toBe(true);
        expect(await stateContents(state)).toEqual([]);
        await state.putBatch([['b', bytes('B')], ['c', bytes('C')]]);
        await state.putBatch([['d', bytes('D')]]);
        expect(await state.appliedIndex()).toBe(5); // not yet
        await state.endInstall(logIndex(40));
        expect(await state.installing()).toBe(false);
        expect(await state.appliedIndex()).toBe(40);
        expect(await stateContents(state)).toEqual([['b', 'B'], ['c', 'C'], ['d', 'D']]);
        const reopened = await harness.reopen();
        expect(await reopened.state.installing()).toBe(false);
        expect(await reopened.state.appliedIndex()).toBe(40);
        expect(await stateContents(reopened.state)).toEqual([['b', 'B'], ['c', 'C'], ['d', 'D']]);
      });

      it('an install a crash interrupted between batches is still marked when reopened', async () => {
        const { state } = storage;
        await state.commit([{ type: 'put', key: 'old', value: bytes('1') }], logIndex(3));
        await state.beginInstall(logIndex(9));
        await state.putBatch([['half', bytes('h')]]);
        const reopened = await harness.reopen();
        expect(await reopened.state.installing()).toBe(true);
        // The node installs again: begin clears what the first attempt left.
        await reopened.state.beginInstall(logIndex(9));
        expect(await stateContents(reopened.state)).toEqual([]);
        await reopened.state.putBatch([['new', bytes('n')]]);
        await reopened.state.endInstall(logIndex(9));
        expect(await stateContents(reopened.state)).toEqual([['new', 'n']]);
        expect(await reopened.state.appliedIndex()).toBe(9);
      });

      it('refuses batches outside an install', async () => {
        await expect(storage.state.putBatch([['k', bytes('v')]])).rejects.toThrow(/outside a snapshot install/);
        await expect(storage.state.endInstall(logIndex(2))).rejects.toThrow(/without beginInstall/);
      });
    });

    it('keeps member addresses and removed ids in the snapshot meta across a reopen', async () => {
      await storage.log.save({ hardState: hardState(2, 1, 8), entries: entries(1, 10, 2) });
      const meta = { ...snapshotMeta(4, 2), confState: { voters: [1, 2], learners: [], addresses: { 1: 'a:1', 2: 'b:2' }, removed: [3] } } as unknown as ReturnType<typeof snapshotMeta>;
      await storage.log.compact(meta);
      await storage.snapshots.save(meta, bytes('snap-4'));
      const reopened = await harness.reopen();
      expect((await reopened.log.load()).snapshot).toEqual(meta);
      expect((await reopened.snapshots.latest())?.meta).toEqual(meta);
    });

    it('keeps everything across close and reopen, and plans later writes from what it reopened', async () => {
      await storage.log.save({ hardState: hardState(2, 1, 8), entries: entries(1, 10, 2) });
      await storage.log.compact(snapshotMeta(3, 2));
      await storage.state.commit([{ type: 'put', key: 'k', value: bytes('v') }], logIndex(8));
      await storage.snapshots.save(snapshotMeta(3, 2), bytes('snap-3'));

      const reopened = await harness.reopen();
      const loaded = await reopened.log.load();
      expect(loaded.hardState).toEqual(hardState(2, 1, 8));
      expect(loaded.snapshot).toEqual(snapshotMeta(3, 2));
      expect(loaded.entries).toEqual(entries(4, 10, 2));
      expect(await reopened.state.appliedIndex()).toBe(8);
      expect(await stateContents(reopened.state)).toEqual([['k', 'v']]);
      expect(await reopened.snapshots.latest()).toEqual({ meta: snapshotMeta(3, 2), data: bytes('snap-3') });

      // A second reopen without load(): the store must know its bounds to truncate correctly.
      const again = await harness.reopen();
      await again.log.save({ entries: [entry(9, 3)] });
      expect(await loadedIndexTerms(again.log)).toEqual([...pairs(4, 8, 2), [9, 3]]);
    });

    it('refuses calls after close', async () => {
      await storage.close();
      await expect(storage.log.load()).rejects.toThrow(/closed/);
      await expect(storage.log.save({ entries: [entry(1, 1)] })).rejects.toThrow(/closed/);
      await expect(storage.state.commit([], logIndex(1))).rejects.toThrow(/closed/);
      await storage.close(); // idempotent
    });
  });
}

function registerLogTests(get: () => Storage): void {
  it('starts empty', async () => {
    const loaded = await get().log.load();
    expect(loaded).toEqual({ hardState: hardState(0, 0, 0), entries: [] });
  });

  it('appends entries and loads them back byte for byte', async () => {
    const { log } = get();
    const mixed: Entry[] = [
      entry(1, 1, new Uint8Array(0)),
      { index: logIndex(2), term: entry(2, 1).term, type: 'confChange', data: Uint8Array.of(0, 255, 7) },
      entry(3, 1, new Uint8Array(70_000).fill(0xab)),
    ];
    await log.save({ hardState: hardState(1, 1, 0), entries: mixed });
    const loaded = await log.load();
    expect(loaded.entries).toEqual(mixed);
    for (const e of loaded.entries) expect(e.data.constructor).toBe(Uint8Array);
    await log.save({ entries: entries(4, 6, 1) });
    expect(await loadedIndexTerms(log)).toEqual(pairs(1, 6, 1));
  });

  it('replaces a conflicting suffix with a shorter one', async () => {
    const { log } = get();
    await log.save({ hardState: hardState(1, 1, 2), entries: entries(1, 10, 1) });
    await log.save({ hardState: hardState(2, 2, 2), entries: entries(5, 6, 2) });
    expect(await loadedIndexTerms(log)).toEqual([...pairs(1, 4, 1), ...pairs(5, 6, 2)]);
    await log.save({ entries: [entry(7, 2)] });
    expect((await log.load()).entries).toEqual([...entries(1, 4, 1), ...entries(5, 7, 2)]);
  });

  it('replaces a conflicting suffix with a longer one, and the whole log from index 1', async () => {
    const { log } = get();
    await log.save({ entries: entries(1, 5, 1) });
    await log.save({ entries: entries(3, 8, 2) });
    expect(await loadedIndexTerms(log)).toEqual([...pairs(1, 2, 1), ...pairs(3, 8, 2)]);
    await log.save({ entries: entries(1, 2, 3) });
    expect(await loadedIndexTerms(log)).toEqual(pairs(1, 2, 3));
  });

  it('runs overlapping calls in call order (compaction beside the loop)', async () => {
    const { log } = get();
    await Promise.all([
      log.save({ hardState: hardState(1, 1, 6), entries: entries(1, 8, 1) }),
      log.compact(snapshotMeta(5, 1)),
      log.save({ entries: entries(8, 9, 2) }),
    ]);
    const loaded = await log.load();
    expect(loaded.snapshot).toEqual(snapshotMeta(5, 1));
    expect(loaded.entries.map((e) => [e.index, e.term])).toEqual([[6, 1], [7, 1], [8, 2], [9, 2]]);
  });

  it('round-trips the hard state and keeps it when a save carries none', async () => {
    const { log } = get();
    await log.save({ hardState: hardState(7, 3, 0), entries: [] });
    expect((await log.load()).hardState).toEqual(hardState(7, 3, 0));
    await log.save({ entries: entries(1, 2, 7) });
    await log.save({ hardState: hardState(8, 0, 2), entries: [] });
    const loaded = await log.load();
    expect(loaded.hardState).toEqual(hardState(8, 0, 2));
    expect(loaded.entries).toHaveLength(2);
  });

  it('refuses entries that are not contiguous or would leave a hole, and stays unchanged', async () => {
    const { log } = get();
    await log.save({ entries: entries(1, 3, 1) });
    await expect(log.save({ entries: [entry(4, 1), entry(6, 1)] })).rejects.toThrow(/not contiguous: 4 then 6/);
    await expect(log.save({ entries: [entry(5, 1)] })).rejects.toThrow(/hole after the last stored entry 3/);
    await expect(log.save({ entries: [entry(4, 2), entry(5, 1)] })).rejects.toThrow(/terms go back/);
    expect(await loadedIndexTerms(log)).toEqual(pairs(1, 3, 1));
    await log.save({ entries: [entry(4, 1)] });
    expect(await loadedIndexTerms(log)).toEqual(pairs(1, 4, 1));
  });

  it('refuses to delete committed entries, a commit beyond the log, and a term going back', async () => {
    const { log } = get();
    await log.save({ hardState: hardState(2, 1, 4), entries: entries(1, 5, 1) });
    await expect(log.save({ entries: [entry(3, 2)] })).rejects.toThrow(/delete committed entries \(commit 4\)/);
    await expect(log.save({ hardState: hardState(2, 1, 6), entries: [] })).rejects.toThrow(/commit 6 is beyond the last entry 5/);
    await expect(log.save({ hardState: hardState(1, 1, 4), entries: [] })).rejects.toThrow(/term goes back from 2 to 1/);
    const loaded = await log.load();
    expect(loaded.hardState).toEqual(hardState(2, 1, 4));
    expect(loaded.entries).toEqual(entries(1, 5, 1));
  });
}

function registerSnapshotLogTests(get: () => Storage): void {
  it('installs a snapshot that matches a stored entry: drops what it covers, keeps the suffix', async () => {
    const { log } = get();
    await log.save({ entries: entries(1, 10, 1) });
    await log.save({ hardState: hardState(1, 0, 5), entries: [], snapshot: snapshotMeta(5, 1) });
    const loaded = await log.load();
    expect(loaded.snapshot).toEqual(snapshotMeta(5, 1));
    expect(loaded.entries).toEqual(entries(6, 10, 1));
  });

  it('installs a snapshot that conflicts with the stored entry: drops the whole log', async () => {
    const { log } = get();
    await log.save({ entries: entries(1, 10, 1) });
    await log.save({ hardState: hardState(2, 0, 5), entries: [], snapshot: snapshotMeta(5, 2) });
    expect(await log.load()).toEqual({ hardState: hardState(2, 0, 5), snapshot: snapshotMeta(5, 2), entries: [] });
    await expect(log.save({ entries: [entry(5, 2)] })).rejects.toThrow(/inside the snapshot \(index 5\)/);
    await log.save({ entries: [entry(6, 2)] });
    expect(await loadedIndexTerms(log)).toEqual([[6, 2]]);
  });

  it('installs a snapshot beyond the log together with the entries that follow it', async () => {
    const { log } = get();
    await log.save({ entries: entries(1, 3, 1) });
    await log.save({ hardState: hardState(3, 0, 20), entries: entries(21, 22, 3), snapshot: snapshotMeta(20, 3) });
    const loaded = await log.load();
    expect(loaded.snapshot).toEqual(snapshotMeta(20, 3));
    expect(loaded.entries).toEqual(entries(21, 22, 3));
    await expect(log.save({ entries: [], snapshot: snapshotMeta(20, 3) })).rejects.toThrow(/not after the stored snapshot 20/);
  });

  it('compacts: drops entries up to the meta and records it; stale compactions are no-ops', async () => {
    const { log } = get();
    await log.save({ hardState: hardState(1, 0, 8), entries: entries(1, 10, 1) });
    await log.compact(snapshotMeta(4, 1));
    let loaded = await log.load();
    expect(loaded.snapshot).toEqual(snapshotMeta(4, 1));
    expect(loaded.entries).toEqual(entries(5, 10, 1));
    await log.compact(snapshotMeta(3, 1));
    expect((await log.load()).snapshot).toEqual(snapshotMeta(4, 1));
    await expect(log.compact(snapshotMeta(9, 1))).rejects.toThrow(/beyond the commit index 8/);
    await expect(log.compact(snapshotMeta(6, 2))).rejects.toThrow(/entry there has term 1/);
    await log.compact(snapshotMeta(8, 1));
    loaded = await log.load();
    expect(loaded.snapshot).toEqual(snapshotMeta(8, 1));
    expect(loaded.entries).toEqual(entries(9, 10, 1));
  });
}

function registerStateTests(get: () => Storage): void {
  it('starts at applied index 0 with no keys', async () => {
    const { state } = get();
    expect(await state.appliedIndex()).toBe(0);
    expect(await stateContents(state)).toEqual([]);
  });

  it('commits puts and deletes with the applied index, and lists keys in code point order', async () => {
    const { state } = get();
    // UTF-16 order would put the emoji (a surrogate pair) before U+E000; code point order puts it after.
    const keys = ['b', 'a', '\u{E000}', '\u{1F600}', 'ab', 'é'];
    await state.commit(keys.map((key) => ({ type: 'put' as const, key, value: bytes(`v-${key}`) })), logIndex(3));
    await state.commit([{ type: 'del', key: 'ab' }, { type: 'put', key: 'a', value: bytes('a2') }], logIndex(4));
    expect(await state.appliedIndex()).toBe(4);
    expect(await stateContents(state)).toEqual([
      ['a', 'a2'],
      ['b', 'v-b'],
      ['é', 'v-é'],
      ['\u{E000}', 'v-\u{E000}'],
      ['\u{1F600}', 'v-\u{1F600}'],
    ]);
  });

  it('applies nothing of a commit that holds a bad op', async () => {
    const { state } = get();
    await state.commit([{ type: 'put', key: 'x', value: bytes('1') }], logIndex(1));
    const bad = [
      { type: 'put' as const, key: 'y', value: bytes('2') },
      { type: 'put' as const, key: 'lone \uD800', value: bytes('3') },
    ];
    await expect(state.commit(bad, logIndex(2))).rejects.toThrow(/lone UTF-16 surrogate/);
    await expect(state.commit([{ type: 'put', key: 'z'.repeat(5000), value: bytes('') }], logIndex(2))).rejects.toThrow(
      /STATE_KEY_BYTES_MAX/,
    );
    await expect(state.commit([], logIndex(0))).rejects.toThrow(/goes back from 1 to 0/);
    expect(await state.appliedIndex()).toBe(1);
    expect(await stateContents(state)).toEqual([['x', '1']]);
  });

  it('replaceAll swaps the whole state and sets the applied index', async () => {
    const { state } = get();
    await state.commit(
      ['a', 'b', 'c'].map((key) => ({ type: 'put' as const, key, value: bytes(key) })),
      logIndex(5),
    );
    await state.replaceAll(
      new Map([
        ['d', bytes('D')],
        ['b', bytes('B')],
      ]),
      logIndex(40),
    );
    expect(await state.appliedIndex()).toBe(40);
    expect(await stateContents(state)).toEqual([
      ['b', 'B'],
      ['d', 'D'],
    ]);
  });

  it('replaceAll takes a state of 300,000 pairs (a snapshot of a large state)', async () => {
    const { state } = get();
    const value = bytes('v');
    const pairs = Array.from({ length: 300_000 }, (_, i) => [`k${String(i).padStart(6, '0')}`, value] as const);
    await state.replaceAll(pairs, logIndex(7));
    expect(await state.appliedIndex()).toBe(7);
    let count = 0;
    for await (const [key] of state.entries()) if (key.startsWith('k')) count++;
    expect(count).toBe(300_000);
  }, 60_000);

  it('stores copies: changing the bytes after a write does not change what is stored', async () => {
    const { state, log } = get();
    const value = Buffer.from('before');
    const data = Buffer.from('entry');
    await state.commit([{ type: 'put', key: 'k', value }], logIndex(1));
    await log.save({ entries: [entry(1, 1, data)] });
    value.fill(0);
    data.fill(0);
    expect(await stateContents(state)).toEqual([['k', 'before']]);
    const loaded = (await log.load()).entries[0]!.data;
    expect(loaded).toEqual(bytes('entry'));
    expect(loaded.constructor).toBe(Uint8Array);
  });
}

function registerSnapshotStoreTests(get: () => Storage): void {
  it('returns nothing before the first save, then the latest snapshot', async () => {
    const { snapshots } = get();
    expect(await snapshots.latest()).toBeUndefined();
    await snapshots.save(snapshotMeta(5, 1), bytes('five'));
    expect(await snapshots.latest()).toEqual({ meta: snapshotMeta(5, 1), data: bytes('five') });
    await snapshots.save(snapshotMeta(9, 2, [1, 2]), new Uint8Array(0));
    const latest = await snapshots.latest();
    expect(latest).toEqual({ meta: snapshotMeta(9, 2, [1, 2]), data: new Uint8Array(0) });
    expect(latest!.data.constructor).toBe(Uint8Array);
  });

  it('refuses a snapshot older than the stored one', async () => {
    const { snapshots } = get();
    await snapshots.save(snapshotMeta(9, 2), bytes('nine'));
    await expect(snapshots.save(snapshotMeta(5, 1), bytes('five'))).rejects.toThrow(/older than the stored snapshot 9/);
    expect((await snapshots.latest())!.meta.index).toBe(9);
  });
}

function pairs(from: number, to: number, t: number): Array<[number, number]> {
  return entries(from, to, t).map((e) => [e.index, e.term]);
}
