import { describe, expect, it } from 'vitest';
import { EVENT_FIXED_BYTES, EventRing } from '../../../src/watch/index.js';
import { change, changes } from './helpers.js';

const limits = (ringEventsMax: number, ringBytesMax = 1 << 30) => ({ ringEventsMax, ringBytesMax });

describe('EventRing', () => {
  it('starts after the applied index it was made or reset at', () => {
    const ring = new EventRing(limits(10), 41);
    expect([ring.firstIndex, ring.appliedIndex, ring.size]).toEqual([42, 41, 0]);
    ring.append(changes(42, 43), 45);
    expect([ring.firstIndex, ring.appliedIndex, ring.size]).toEqual([42, 45, 2]);
    const endSeq = ring.endSeq;
    ring.reset(100);
    expect([ring.firstIndex, ring.appliedIndex, ring.size, ring.bytes]).toEqual([101, 100, 0, 0]);
    // sequence numbers are never reused: a watcher holding an old one cannot read a new change by mistake
    expect(ring.startSeq).toBe(endSeq);
    expect(ring.at(endSeq - 1)).toBeUndefined();
  });

  it('drops whole entries, oldest first, past the event bound, and moves firstIndex past them', () => {
    const ring = new EventRing(limits(5));
    ring.append(changes(1, 2, 2), 2); // 4 changes
    ring.append(changes(3, 3, 2), 3); // 6 > 5: entry 1 goes (both of its changes)
    expect(ring.firstIndex).toBe(2);
    expect(ring.size).toBe(4);
    expect(ring.at(ring.startSeq)!.change).toMatchObject({ index: 2, position: 0 });
    ring.append([change(4, 0)], 4); // 5: fits
    expect(ring.firstIndex).toBe(2);
  });

  it('drops entries past the byte bound, counting the data as JSON', () => {
    const big = change(1, 0, 'alice', 'created', { blob: 'x'.repeat(1_000) });
    const ring = new EventRing(limits(1_000, 2 * (EVENT_FIXED_BYTES + 1_100)));
    ring.append([big], 1);
    expect(ring.at(0)!.dataJson).toBe(JSON.stringify(big.session.data));
    expect(ring.bytes).toBeGreaterThan(1_000);
    ring.append([change(2, 0, 'alice', 'created', { blob: 'y'.repeat(1_000) })], 2);
    ring.append([change(3, 0, 'alice', 'created', { blob: 'z'.repeat(1_000) })], 3);
    expect(ring.firstIndex).toBe(2);
    expect(ring.bytes).toBeLessThanOrEqual(2 * (EVENT_FIXED_BYTES + 1_100));
  });

  it('finds the first change at or after a cursor by binary search', () => {
    const ring = new EventRing(limits(100));
    ring.append([...changes(1, 3, 3), ...changes(6, 6, 2)], 7); // 4, 5 and 7 have no change
    const seq0 = ring.startSeq;
    expect(ring.seqAt({ index: 1, position: 0 }) - seq0).toBe(0);
    expect(ring.seqAt({ index: 2, position: 2 }) - seq0).toBe(5);
    expect(ring.seqAt({ index: 2, position: 3 }) - seq0).toBe(6);
    expect(ring.seqAt({ index: 4, position: 0 }) - seq0).toBe(9);
    expect(ring.seqAt({ index: 8, position: 0 })).toBe(ring.endSeq);
    expect(() => ring.seqAt({ index: 0, position: 0 })).toThrow(/below the first held 1/);
  });

  it('refuses changes out of order or beyond the applied index it is given', () => {
    const ring = new EventRing(limits(100));
    ring.append(changes(1, 2), 2);
    expect(() => ring.append([change(2, 1)], 3)).toThrow(/out of order/);
    expect(() => ring.append([change(5, 0)], 4)).toThrow(/out of order/);
    expect(() => ring.append([], 1)).toThrow(/went back/);
  });

  it('keeps its memory bounded over a long run (the dropped front is compacted away)', () => {
    const ring = new EventRing(limits(100));
    for (let i = 1; i <= 20_000; i++) ring.append([change(i, 0)], i);
    expect(ring.size).toBe(100);
    expect(ring.firstIndex).toBe(19_901);
    expect((ring as unknown as { events: unknown[] }).events.length).toBeLessThan(2_300);
  });
});
