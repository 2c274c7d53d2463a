import { describe, expect, it } from 'vitest';
import { SortedList, compareStrings } from '../../../src/session/sorted-list.js';
import { prng } from './helpers.js';

const numbers = (a: number, b: number) => a - b;

describe('SortedList', () => {
  it('matches a sorted array under random adds and deletes (small chunks to force splits and merges)', () => {
    const random = prng(7);
    const list = new SortedList<number>(numbers, 8);
    const model = new Set<number>();
    for (let step = 0; step < 5_000; step++) {
      const value = Math.floor(random() * 400);
      if (random() < 0.55) {
        expect(list.add(value)).toBe(!model.has(value));
        model.add(value);
      } else {
        expect(list.delete(value)).toBe(model.has(value));
        model.delete(value);
      }
      expect(list.has(value)).toBe(model.has(value));
      if (step % 250 === 0) list.checkInvariants();
    }
    const sorted = [...model].sort(numbers);
    expect([...list.values()]).toEqual(sorted);
    expect(list.size).toBe(sorted.length);
    for (const after of [-1, 0, 100, 250, 399, 400]) {
      expect([...list.valuesAfter(after)]).toEqual(sorted.filter((v) => v > after));
    }
    expect(list.first()).toBe(sorted[0]);
    list.checkInvariants();
  });

  it('fromSorted builds a valid list and refuses unsorted input', () => {
    const values = Array.from({ length: 3_000 }, (_, i) => `k${String(i).padStart(5, '0')}`);
    const list = SortedList.fromSorted(values, compareStrings, 16);
    list.checkInvariants();
    expect(list.size).toBe(3_000);
    expect(list.has('k01234')).toBe(true);
    expect(list.add('k01234')).toBe(false);
    expect(list.add('k01234x')).toBe(true);
    expect([...list.valuesAfter('k01234')].slice(0, 2)).toEqual(['k01234x', 'k01235']);
    expect(() => SortedList.fromSorted(['b', 'a'], compareStrings)).toThrow(/not strictly ascending/);
    expect(() => SortedList.fromSorted(['a', 'a'], compareStrings)).toThrow(/not strictly ascending/);
  });

  it('empty list answers everything sensibly', () => {
    const list = new SortedList<number>(numbers);
    expect(list.delete(1)).toBe(false);
    expect(list.has(1)).toBe(false);
    expect([...list.valuesAfter(0)]).toEqual([]);
    expect(list.first()).toBeUndefined();
    expect(() => new SortedList<number>(numbers, 2)).toThrow(RangeError);
  });
});
