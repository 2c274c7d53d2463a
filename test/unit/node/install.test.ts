/**
 * A snapshot installed from its file in bounded LevelDB batches, and a crash between two batches:
 * the next open sees the install marker and installs again from the file; the state then equals
 * the snapshot's, and a partial state is never loaded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SYSTEM_CLOCK, SessionNode, bootstrapLog, resolveNodeOptions } from '../../../src/node/index.js';
import { INSTALL_BATCH_BYTES, installSnapshotFile } from '../../../src/node/install.js';
import { decodeStateSnapshot, encodeStateSnapshot } from '../../../src/node/state-snapshot.js';
import type { LogIndex, NodeId, SnapshotMeta, Term } from '../../../src/raft/index.js';
import { APPLIED_KEY, SessionStateMachine } from '../../../src/session/index.js';
import { packValue } from '../../../src/session/codec.js';
import { createMemoryStorage, openLevelStorage, type Storage } from '../../../src/storage/index.js';
import { silentLogger, testTransport } from './helpers.js';

const peers = new Map<NodeId, string>([
  [1 as NodeId, 'n1:1'],
  [2 as NodeId, 'n2:1'],
]);
const INDEX = 500;

function meta(): SnapshotMeta {
  return { index: INDEX as LogIndex, term: 2 as Term, confState: { voters: [1 as NodeId, 2 as NodeId], learners: [], addresses: { 1: 'n1:1', 2: 'n2:1' } } };
}

/** A leader's snapshot data: `count` sessions at INDEX, made by a real state machine. */
async function snapshotData(count: number): Promise<Uint8Array> {
  const machine = new SessionStateMachine({ defaultTtlMs: 3_600_000, dataBytesMax: 65_536 });
  const scratch = createMemoryStorage();
  const { encodeBatch, encodeBatchItem } = await import('../../../src/session/index.js');
  const items = Array.from({ length: count }, (_, i) =>
    encodeBatchItem({
      command: {
        type: 'create',
        sessionId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        clientId: `client-${i % 3}`,
        transport: 'http',
        data: { i, pad: 'x'.repeat(200) },
        ttlMs: 3_600_000,
        maxLifetimeMs: 0,
      },
    }),
  );
  const { ops } = machine.applyEntries([{ index: 1 as LogIndex, data: encodeBatch(1_700_000_000_000, items) }]);
  await scratch.state.commit([...ops.filter((op) => op.key !== APPLIED_KEY), { type: 'put', key: APPLIED_KEY, value: packValue(INDEX) }], INDEX as LogIndex);
  return encodeStateSnapshot(scratch.state.entries(), INDEX as LogIndex);
}

async function contents(storage: Storage): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const [key, value] of storage.state.entries()) out.push([key, Buffer.from(value).toString('hex')]);
  return out;
}

function expected(data: Uint8Array): [string, string][] {
  return [...decodeStateSnapshot(data)].map(([key, value]) => [key, Buffer.from(value).toString('hex')]);
}

async function openNode(storage: Storage): Promise<SessionNode> {
  const options = resolveNodeOptions({ id: 2 as NodeId, clusterId: 'unit', listenAddress: 'n2:1', peers, dataDir: '/nonexistent', tickIntervalMs: 1_000 });
  return SessionNode.open({ options, logger: silentLogger, storage, transport: testTransport(), clock: SYSTEM_CLOCK, random: Math.random });
}

/** The disk after a crash between two batches of an install: file and log first, then part of the state. */
async function crashMidInstall(storage: Storage, data: Uint8Array): Promise<void> {
  await storage.log.save(bootstrapLog(peers));
  await storage.state.commit([{ type: 'put', key: 'm/clock', value: packValue(1) }], 2 as LogIndex);
  await storage.snapshots.save(meta(), data);
  await storage.log.save({ hardState: { term: 2 as Term, vote: 0 as NodeId, commit: INDEX as LogIndex }, entries: [], snapshot: meta() });
  await storage.state.beginInstall(INDEX as LogIndex);
  const half = [...decodeStateSnapshot(data)].slice(0, 40);
  await storage.state.putBatch(half);
}

describe('snapshot install from the file, in batches', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('writes bounded batches, the applied index last, and loads the same pairs into the state machine', async () => {
    const data = await snapshotData(300);
    const storage = createMemoryStorage();
    await storage.snapshots.save(meta(), data);
    const info = (await storage.snapshots.latestInfo())!;
    const batches: number[] = [];
    const counting = {
      snapshots: storage.snapshots,
      state: {
        ...storage.state,
        beginInstall: (index: LogIndex) => storage.state.beginInstall(index),
        putBatch: (pairs: readonly (readonly [string, Uint8Array])[]) => {
          batches.push(pairs.length);
          return storage.state.putBatch(pairs);
        },
        endInstall: (index: LogIndex) => storage.state.endInstall(index),
      },
    } as unknown as Storage;
    const machine = new SessionStateMachine({ defaultTtlMs: 3_600_000, dataBytesMax: 65_536 });
    await installSnapshotFile(counting, info, machine, 8 * 1024);
    expect(batches.length).toBeGreaterThan(5);
    expect(INSTALL_BATCH_BYTES).toBe(8 * 1024 * 1024);
    expect(machine.sessionCount).toBe(300);
    expect(machine.appliedIndex).toBe(INDEX);
    expect(await storage.state.appliedIndex()).toBe(INDEX);
    expect(await storage.state.installing()).toBe(false);
    expect(await contents(storage)).toEqual(expected(data));
  });

  it('in-memory storage: a crash between two batches; the next open installs again from the file', async () => {
    const data = await snapshotData(120);
    const storage = createMemoryStorage();
    await crashMidInstall(storage, data);
    // A power loss right after the marker: the batches written after it are lost too.
    const restarted = storage.restart({ unsyncedWritesKept: 0 });
    expect(await restarted.state.installing()).toBe(true);
    const node = await openNode(restarted);
    expect(node.status().appliedIndex).toBe(INDEX);
    expect(await restarted.state.installing()).toBe(false);
    expect(await contents(restarted)).toEqual(expected(data));
    await node.stop({ transferLeadership: false });
  });

  it('LevelDB: a crash between two batches; the next open installs again from the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionraft-install-'));
    dirs.push(dir);
    const data = await snapshotData(120);
    const first = await openLevelStorage(dir);
    await crashMidInstall(first, data);
    await first.close(); // the process dies here: no endInstall
    const second = await openLevelStorage(dir);
    expect(await second.state.installing()).toBe(true);
    const node = await openNode(second);
    expect(node.status().appliedIndex).toBe(INDEX);
    expect(await second.state.installing()).toBe(false);
    expect(await contents(second)).toEqual(expected(data));
    await node.stop({ transferLeadership: false });
  });

  it('a marked state without a snapshot file refuses to open (StorageCorruptionError)', async () => {
    const storage = createMemoryStorage();
    await storage.log.save(bootstrapLog(peers));
    await storage.state.beginInstall(9 as LogIndex);
    await expect(openNode(storage)).rejects.toThrow(/interrupted snapshot install, but there is no snapshot file/);
  });
});
