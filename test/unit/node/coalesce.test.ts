import { describe, expect, it } from 'vitest';
import { logIndex, nodeId, term, type Entry, type Message } from '../../../src/raft/index.js';
import { coalesceAppends } from '../../../src/node/coalesce.js';

const entry = (index: number, t = 2, bytes = 10): Entry => ({ term: term(t), index: logIndex(index), type: 'normal', data: new Uint8Array(bytes).fill(index & 0xff) });

/** An append to `to` carrying entries first..last (none if last < first), prev term `logTerm`. */
function append(to: number, first: number, last: number, commit: number, logTerm = 2, t = 2, bytes = 10): Message {
  const entries: Entry[] = [];
  for (let i = first; i <= last; i++) entries.push(entry(i, t, bytes));
  return { type: 'append', from: nodeId(1), to: nodeId(to), term: term(t), index: logIndex(first - 1), logTerm: term(logTerm), entries, commit: logIndex(commit) };
}

const heartbeat = (to: number): Message => ({ type: 'heartbeat', from: nodeId(1), to: nodeId(to), term: term(2), commit: logIndex(3) });

describe('coalesceAppends', () => {
  it('merges the one-entry appends of a turn into one append per follower, keeping each follower\'s order', () => {
    const input = [append(2, 5, 5, 3), append(3, 5, 5, 3), append(2, 6, 6, 3), append(3, 6, 6, 4), append(2, 7, 7, 4)];
    const out = coalesceAppends(input, 1 << 20);
    expect(out).toHaveLength(2);
    expect(out[0]).toEqual({ ...append(2, 5, 7, 4) });
    expect(out[1]).toEqual({ ...append(3, 5, 6, 4) });
    expect(input[0]!.entries).toHaveLength(1); // the core's messages are not modified
  });

  it('merges an empty commit-only append into the append it continues', () => {
    const out = coalesceAppends([append(2, 5, 6, 4), append(2, 7, 6, 6)], 1 << 20);
    expect(out).toEqual([append(2, 5, 6, 6)]);
  });

  it('keeps apart appends that do not continue each other, or are separated by another message to the peer', () => {
    const gap = [append(2, 5, 5, 3), append(2, 7, 7, 3)];
    expect(coalesceAppends(gap, 1 << 20)).toEqual(gap);
    const otherTerm = [append(2, 5, 5, 3), append(2, 6, 6, 3, 3, 3)];
    expect(coalesceAppends(otherTerm, 1 << 20)).toEqual(otherTerm);
    const wrongLogTerm = [append(2, 5, 5, 3), append(2, 6, 6, 3, 1)];
    expect(coalesceAppends(wrongLogTerm, 1 << 20)).toEqual(wrongLogTerm);
    const separated = [append(2, 5, 5, 3), heartbeat(2), append(2, 6, 6, 3)];
    expect(coalesceAppends(separated, 1 << 20)).toEqual(separated);
    const probe = [{ ...append(2, 5, 5, 3), reject: false }, append(2, 6, 6, 3)];
    expect(coalesceAppends(probe, 1 << 20)).toEqual(probe);
  });

  it('stops merging at the entry byte limit', () => {
    const input = [append(2, 5, 5, 3, 2, 2, 600), append(2, 6, 6, 3, 2, 2, 600), append(2, 7, 7, 3, 2, 2, 600)];
    const out = coalesceAppends(input, 1000);
    expect(out.map((m) => m.entries?.map((e) => e.index))).toEqual([[5], [6], [7]]);
    const two = coalesceAppends(input, 1200);
    expect(two.map((m) => m.entries?.map((e) => e.index))).toEqual([[5, 6], [7]]);
  });

  it('keeps every follower\'s entries, in order, in contiguous appends within the limit (seeded random turns)', () => {
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let turn = 0; turn < 200; turn++) {
      const next = new Map<number, number>([[2, 10], [3, 10]]);
      const input: Message[] = [];
      for (let i = random(300); i > 0; i--) {
        const to = 2 + random(2);
        const kind = random(10);
        if (kind === 0) {
          input.push(heartbeat(to));
          continue;
        }
        const first = next.get(to)!;
        const count = kind === 1 ? 0 : 1 + random(3);
        input.push(append(to, first, first + count - 1, first - 1, 2, 2, 1 + random(400)));
        next.set(to, first + count);
      }
      const limit = 500 + random(3000);
      const out = coalesceAppends(input, limit);
      for (const to of [2, 3]) {
        const before = input.filter((m) => m.to === to);
        const after = out.filter((m) => m.to === to);
        const indexes = (ms: Message[]): number[] => ms.flatMap((m) => (m.entries ?? []).map((e) => e.index));
        expect(indexes(after)).toEqual(indexes(before));
        for (const m of after) {
          const entries = m.entries ?? [];
          entries.forEach((e, k) => expect(e.index).toBe((m.index ?? 0) + k + 1));
          const bytes = entries.reduce((sum, e) => sum + e.data.byteLength, 0);
          if (!before.includes(m)) expect(bytes).toBeLessThanOrEqual(limit);
        }
        // Heartbeats stay where they were relative to the appends around them.
        const shape = (ms: Message[]): string => ms.map((m) => (m.type === 'heartbeat' ? 'h' : 'a')).join('').replace(/a+/g, 'a');
        expect(shape(after)).toBe(shape(before));
      }
    }
  });
});

