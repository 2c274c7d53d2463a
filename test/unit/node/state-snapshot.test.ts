import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeStateSnapshot, decodeStateSnapshotChunks, encodeStateSnapshot, encodeStateSnapshotChunks } from '../../../src/node/state-snapshot.js';
import type { LogIndex } from '../../../src/raft/index.js';

async function* pairs(list: [string, Uint8Array][]): AsyncIterable<readonly [string, Uint8Array]> {
  for (const pair of list) yield pair;
}

describe('state snapshots', () => {
  const state: [string, Uint8Array][] = [
    ['d/web-1/7', Uint8Array.of(1, 2, 3)],
    ['m/applied', pack(42)],
    ['m/clock', pack(1_700_000_000_000)],
    ['s/00000000-0000-4000-8000-000000000001', new Uint8Array(0)],
    ['s/ünïcode', Uint8Array.from({ length: 5000 }, (_, i) => i % 251)],
  ];

  it('round-trips every pair, byte for byte, in order', async () => {
    const data = await encodeStateSnapshot(pairs(state), 42 as LogIndex);
    const decoded = [...decodeStateSnapshot(data)].map(([k, v]) => [k, [...v]]);
    expect(decoded).toEqual(state.map(([k, v]) => [k, [...v]]));
  });

  it('refuses a view that is not at the expected index', async () => {
    await expect(encodeStateSnapshot(pairs(state), 41 as LogIndex)).rejects.toThrow(
      /snapshot 41 is at applied index 42/,
    );
  });

  it('rejects foreign or truncated data with a clear error', async () => {
    expect(() => [...decodeStateSnapshot(new TextEncoder().encode('SRSNAP1...'))]).toThrow(/bad magic/);
    const data = await encodeStateSnapshot(pairs(state), 42 as LogIndex);
    expect(() => [...decodeStateSnapshot(data.subarray(0, data.length - 10))]).toThrow(/truncated/);
  });
});

describe('state snapshots as streams of chunks', () => {
  async function* chunksOf(data: Uint8Array, sizes: number[]): AsyncIterable<Uint8Array> {
    let at = 0;
    for (let i = 0; at < data.length; i++) {
      const size = sizes[i % sizes.length]!;
      yield data.subarray(at, at + size);
      at += size;
    }
  }

  const state: [string, Uint8Array][] = Array.from({ length: 500 }, (_, i) => [`s/${String(i).padStart(5, '0')}`, Uint8Array.from({ length: (i * 37) % 700 }, (_, j) => (i + j) & 0xff)] as [string, Uint8Array]);
  state.push(['m/applied', pack(42)]);
  state.sort(([a], [b]) => (a < b ? -1 : 1));

  async function* pairsOf(list: [string, Uint8Array][]): AsyncIterable<readonly [string, Uint8Array]> {
    for (const pair of list) yield pair;
  }

  it('encodes in chunks of about chunkBytes and decodes from chunks cut anywhere, pair for pair', async () => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of encodeStateSnapshotChunks(pairsOf(state), 42 as LogIndex, 4096)) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(10);
    for (const chunk of chunks.slice(0, -1)) expect(chunk.length).toBeLessThan(4096 + 800);
    const data = Buffer.concat(chunks);
    const expected = state.map(([k, v]) => [k, [...v]]);
    for (const sizes of [[1], [3, 5, 7], [4096], [100_000], [13, 1, 2000]]) {
      const decoded: [string, number[]][] = [];
      for await (const [k, v] of decodeStateSnapshotChunks(chunksOf(data, sizes))) decoded.push([k, [...v]]);
      expect(decoded, `chunk sizes ${sizes.join(',')}`).toEqual(expected);
    }
  });

  it('gives a pair larger than chunkBytes a chunk of its own, and no chunk exceeds chunkBytes otherwise', async () => {
    const big: [string, Uint8Array][] = [
      ['d/a/1', Uint8Array.of(7)],
      ['m/applied', pack(42)],
      ['s/big', Uint8Array.from({ length: 10_000 }, (_, i) => i % 253)],
      ['s/small', Uint8Array.of(1, 2)],
    ];
    const chunks: Uint8Array[] = [];
    for await (const chunk of encodeStateSnapshotChunks(pairsOf(big), 42 as LogIndex, 1024)) chunks.push(chunk);
    expect(chunks.map((c) => c.length)).toEqual([5 + 14 + 18, 8 + 5 + 10_000, 8 + 7 + 2]);
    const decoded: [string, number[]][] = [];
    for await (const [k, v] of decodeStateSnapshotChunks(chunksOf(Buffer.concat(chunks), [333]))) decoded.push([k, [...v]]);
    expect(decoded).toEqual(big.map(([k, v]) => [k, [...v]]));
  });

  it('refuses a truncated stream and a bad magic', async () => {
    const data = await encodeStateSnapshot(pairsOf(state), 42 as LogIndex);
    const drain = async (chunks: AsyncIterable<Uint8Array>): Promise<void> => {
      for await (const _ of decodeStateSnapshotChunks(chunks)) void _;
    };
    await expect(drain(chunksOf(data.subarray(0, data.length - 3), [1000]))).rejects.toThrow(/truncated/);
    await expect(drain(chunksOf(new TextEncoder().encode('SRXX1...'), [2]))).rejects.toThrow(/bad magic/);
  });

  it('throws after the last pair when the view is not the state at the expected index', async () => {
    const drain = async (): Promise<void> => {
      for await (const _ of encodeStateSnapshotChunks(pairsOf(state), 41 as LogIndex, 4096)) void _;
    };
    await expect(drain()).rejects.toThrow(/at applied index 42/);
  });
});
