/**
 * Regression: a crash between a received snapshot's file and the log that points at it. The
 * restart finishes that install (found by the simulation of real nodes with membership changes,
 * seed 580: the file stayed on disk as the newest, another leader's older snapshot could not be
 * saved over it, and the node loop died on it).
 */
import { describe, expect, it } from 'vitest';
import { SYSTEM_CLOCK, SessionNode, bootstrapLog, resolveNodeOptions } from '../../../src/node/index.js';
import { encodeStateSnapshot } from '../../../src/node/state-snapshot.js';
import type { LogIndex, NodeId, SnapshotMeta, Term } from '../../../src/raft/index.js';
import { APPLIED_KEY } from '../../../src/session/index.js';
import { packValue } from '../../../src/session/codec.js';
import { createMemoryStorage } from '../../../src/storage/index.js';
import { silentLogger, testTransport } from './helpers.js';

const peers = new Map<NodeId, string>([
  [1 as NodeId, 'n1:1'],
  [2 as NodeId, 'n2:1'],
]);

function metaAt(index: number): SnapshotMeta {
  return { index: index as LogIndex, term: 1 as Term, confState: { voters: [1 as NodeId, 2 as NodeId], learners: [], addresses: { 1: 'n1:1', 2: 'n2:1' } } };
}

/** The data of an empty state at `index`, as a leader's snapshot carries it. */
async function dataAt(index: number): Promise<Uint8Array> {
  const scratch = createMemoryStorage();
  await scratch.state.commit([{ type: 'put', key: APPLIED_KEY, value: packValue(index) }], index as LogIndex);
  return encodeStateSnapshot(scratch.state.entries(), index as LogIndex);
}

describe('recovery', () => {
  it('regression: a restart finishes the install of a received snapshot whose log save a crash interrupted', async () => {
    const storage = createMemoryStorage();
    await storage.log.save(bootstrapLog(peers));
    await storage.state.commit([], 2 as LogIndex);
    // A leader's snapshot at 6 made durable as a file; the process died before the log save.
    await storage.snapshots.save(metaAt(6), await dataAt(6));
    const transport = testTransport();
    const options = resolveNodeOptions({ id: 2 as NodeId, clusterId: 'unit', listenAddress: 'n2:1', peers, dataDir: '/nonexistent', tickIntervalMs: 1_000 });
    const node = await SessionNode.open({ options, logger: silentLogger, storage, transport, clock: SYSTEM_CLOCK, random: Math.random });
    expect(node.status().appliedIndex).toBe(6);
    expect(node.status().raft.commit).toBe(6);
    expect((await storage.log.load()).snapshot?.index).toBe(6);

    // Another leader's older snapshot is no news now (before the fix the node installed it and
    // its loop died saving a file older than the stored one).
    let failure: Error | undefined;
    void node.failed.promise.then((error) => (failure = error));
    node.start();
    transport.deliver({ type: 'snapshot', from: 1 as NodeId, to: 2 as NodeId, term: 1 as Term, snapshot: { meta: metaAt(4), data: await dataAt(4) } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(failure).toBeUndefined();
    expect(node.status().appliedIndex).toBe(6);
    await node.stop({ transferLeadership: false });
  });
});
