import { describe, expect, it } from 'vitest';
import type { Entry, SnapshotMeta } from '../../src/raft/index.js';
import { logIndex, nodeId, term } from '../../src/raft/index.js';
import { SimDisk, StorageContractError } from './disk.js';

const e = (index: number, t: number): Entry => ({ index: logIndex(index), term: term(t), type: 'normal', data: new Uint8Array([index]) });
const meta = (index: number, t: number): SnapshotMeta => ({
  index: logIndex(index),
  term: term(t),
  confState: { voters: [nodeId(1)], learners: [] },
});
const data = new Uint8Array([1, 2, 3]);

describe('SimDisk', () => {
  it('appends, then replaces a conflicting suffix from the first new index', () => {
    const d = new SimDisk();
    d.save({ entries: [e(1, 1), e(2, 1), e(3, 1)] });
    d.save({ entries: [e(2, 2)] });
    expect(d.lastIndex).toBe(2);
    expect(d.termAt(1)).toBe(1);
    expect(d.termAt(2)).toBe(2);
    expect(d.termAt(3)).toBeUndefined();
  });

  it('refuses a hole, entries under the snapshot, and non-contiguous batches', () => {
    const d = new SimDisk();
    expect(() => d.save({ entries: [e(2, 1)] })).toThrow(StorageContractError);
    d.save({ entries: [e(1, 1)] });
    expect(() => d.save({ entries: [e(2, 1), e(4, 1)] })).toThrow(StorageContractError);
    d.save({ entries: [e(2, 1), e(3, 1)] });
    d.compact({ meta: meta(2, 1), data });
    expect(() => d.save({ entries: [e(2, 1)] })).toThrow(StorageContractError);
  });

  it('keeps the hard state and hands everything back on load', () => {
    const d = new SimDisk();
    d.save({ entries: [e(1, 1), e(2, 1)], hardState: { term: term(1), vote: nodeId(2), commit: logIndex(1) } });
    const image = d.load();
    expect(image.hardState).toEqual({ term: 1, vote: 2, commit: 1 });
    expect(image.entries.map((x) => x.index)).toEqual([1, 2]);
    expect(image.snapshot).toBeUndefined();
  });

  it('compacts: drops entries up to the snapshot, keeps the rest', () => {
    const d = new SimDisk();
    d.save({ entries: [e(1, 1), e(2, 1), e(3, 2), e(4, 2)] });
    d.compact({ meta: meta(2, 1), data });
    expect(d.snapshotIndex).toBe(2);
    expect(d.firstIndex).toBe(3);
    expect(d.termAt(2)).toBe(1);
    expect(d.load().entries.map((x) => x.index)).toEqual([3, 4]);
    d.compact({ meta: meta(1, 1), data }); // older: ignored
    expect(d.snapshotIndex).toBe(2);
    expect(() => d.compact({ meta: meta(4, 1), data })).toThrow(StorageContractError); // wrong term
    expect(() => d.compact({ meta: meta(9, 2), data })).toThrow(StorageContractError); // beyond the end
  });

  it('installs a received snapshot: the log restarts after it', () => {
    const d = new SimDisk();
    d.save({ entries: [e(1, 1), e(2, 1), e(3, 1)] });
    d.save({ entries: [e(6, 3)], snapshot: { meta: meta(5, 3), data } });
    expect(d.snapshotIndex).toBe(5);
    expect(d.load().entries.map((x) => x.index)).toEqual([6]);
    expect(d.termAt(3)).toBeUndefined();
    expect(() => d.save({ entries: [], snapshot: { meta: meta(4, 3), data } })).toThrow(StorageContractError);
  });
});
