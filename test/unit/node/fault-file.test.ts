import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFaults, watchFaultFile, type InjectedFaults } from '../../../src/node/index.js';
import type { NodeId } from '../../../src/raft/index.js';

const peers = new Set([1, 2, 3] as NodeId[]);
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe('fault file', () => {
  it('parses blocked peers, sorted and without duplicates', () => {
    expect(parseFaults('{"blockedPeers":[3,2,3]}', peers, 1 as NodeId)).toEqual({ blockedPeers: [2, 3] });
    expect(parseFaults('{}', peers, 1 as NodeId)).toEqual({ blockedPeers: [] });
  });

  it('refuses what is not a list of other members, saying what is wrong', () => {
    expect(() => parseFaults('{blocked', peers, 1 as NodeId)).toThrow(/not JSON/);
    expect(() => parseFaults('[2]', peers, 1 as NodeId)).toThrow(/expected an object/);
    expect(() => parseFaults('{"blockPeers":[2]}', peers, 1 as NodeId)).toThrow(/unknown keys: blockPeers/);
    expect(() => parseFaults('{"blockedPeers":2}', peers, 1 as NodeId)).toThrow(/expected an array/);
    expect(() => parseFaults('{"blockedPeers":[4]}', peers, 1 as NodeId)).toThrow(/4 is not another member/);
    expect(() => parseFaults('{"blockedPeers":[1]}', peers, 1 as NodeId)).toThrow(/1 is not another member/);
    expect(() => parseFaults('{"blockedPeers":["2"]}', peers, 1 as NodeId)).toThrow(/"2" is not another member/);
  });

  it('applies each change of the file, keeps the faults in force over a bad file, and a missing file means none', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-faults-'));
    dirs.push(dir);
    const file = path.join(dir, 'faults.json');
    const applied: InjectedFaults[] = [];
    const watch = watchFaultFile(file, peers, 1 as NodeId, (faults) => applied.push(faults), pino({ level: 'silent' }), 10);
    try {
      await until(() => applied.length === 1);
      expect(applied).toEqual([{ blockedPeers: [] }]);
      writeFileSync(file, '{"blockedPeers":[2]}');
      await until(() => applied.length === 2);
      expect(applied[1]).toEqual({ blockedPeers: [2] });
      writeFileSync(file, '{"blockedPeers":[9]}');
      await new Promise((r) => setTimeout(r, 100));
      expect(applied).toHaveLength(2);
      rmSync(file);
      await until(() => applied.length === 3);
      expect(applied[2]).toEqual({ blockedPeers: [] });
    } finally {
      watch.close();
    }
  });
});
