/**
 * The exactly-once table evicts oldest first under each bound, and its eviction order stays within
 * a constant of the records it holds, whichever bound evicts (a record evicted by one bound sits in
 * the middle of the other's order until it is passed or compacted away).
 */
import { describe, expect, it } from 'vitest';
import type { LogIndex } from '../../../src/raft/index.js';
import { DedupTable, type DedupRecord } from '../../../src/session/dedup.js';
import { prng } from './helpers.js';

const record = (clientId: string, seq: number, index: number): DedupRecord =>
  Object.freeze({ clientId, seq, index: index as LogIndex, bytes: 100, result: Object.freeze({ ok: true as const, deleted: 0 }) });

describe('DedupTable', () => {
  it('evicts a client\'s oldest past its bound and the oldest overall past the total, in log order, with a bounded eviction order', () => {
    const table = new DedupTable({ dedupEntriesMax: 3_000, dedupEntriesPerClientMax: 50, dedupBytesMax: 10_000_000 });
    const random = prng(11);
    const seqs = new Map<string, number>();
    const live: DedupRecord[] = []; // a model: every record kept, in log order
    for (let index = 1; index <= 60_000; index++) {
      // One busy client, an idle one that keeps its first records, and many that hit the total bound.
      const r = random();
      const clientId = index <= 20 ? 'idle' : r < 0.5 ? 'busy' : `c${Math.floor(random() * 400)}`;
      const seq = (seqs.get(clientId) ?? 0) + 1;
      seqs.set(clientId, seq);
      const added = record(clientId, seq, index);
      const evicted = table.add(added, Uint8Array.of(index & 0xff, index >> 8, index >> 16));
      live.push(added);
      for (const gone of evicted) live.splice(live.indexOf(gone), 1);
      // The model's rule: the client's own oldest past its bound, then the oldest of all past the total.
      const ofClient = live.filter((x) => x.clientId === clientId);
      expect(ofClient.length).toBeLessThanOrEqual(50);
      expect(live.length).toBeLessThanOrEqual(3_000);
      if (index % 5_000 === 0) {
        table.checkInvariants();
        expect([...table.records()]).toEqual(live);
      }
    }
    expect(table.lookup('idle', 1)).toBeUndefined(); // the total bound reached the idle client's records too
    expect(table.lookup('busy', seqs.get('busy')!)).toBeDefined();
  });

  it('does not keep the records one client\'s bound evicted behind another client\'s live oldest record', () => {
    const table = new DedupTable({ dedupEntriesMax: 1_000_000, dedupEntriesPerClientMax: 50, dedupBytesMax: 1e12 });
    let index = 0;
    for (let seq = 1; seq <= 5; seq++) table.add(record('idle', seq, ++index), Uint8Array.of(1));
    for (let seq = 1; seq <= 20_000; seq++) table.add(record('busy', seq, ++index), Uint8Array.of(2));
    expect(table.size).toBe(55);
    table.checkInvariants(); // the order of all records holds about the 55 live ones, not 20,005
    expect([...table.records()].map((r) => `${r.clientId}/${r.seq}`)).toEqual([
      ...[1, 2, 3, 4, 5].map((seq) => `idle/${seq}`),
      ...Array.from({ length: 50 }, (_, i) => `busy/${19_951 + i}`),
    ]);
  });
});
