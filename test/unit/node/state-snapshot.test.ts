import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeStateSnapshot, encodeStateSnapshot } from '../../../src/node/state-snapshot.js';
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
