/**
 * The node side of backups (src/node/backup-source.ts) in-process on real LevelDB: a copy taken
 * while a writer keeps writing is exactly the state at its header's index (every write answered
 * before it started is in it, none applied after its index is), with the header's digest; copies
 * are bounded per node; a copy whose pairs do not match its header fails.
 */
import { describe, expect, it } from 'vitest';
import { BACKUPS_CONCURRENT_MAX, BackupSource, type RestingState } from '../../../src/node/backup-source.js';
import { OverloadedError, SYSTEM_CLOCK, SessionNode, type NodeStatus } from '../../../src/node/index.js';
import type { LogIndex } from '../../../src/raft/index.js';
import { SessionStateMachine, type SessionCommand } from '../../../src/session/index.js';
import { openLevelStorage, type Storage } from '../../../src/storage/index.js';
import { oneNodeOptions, silentLogger, stopAfterTest, tempDir, testTransport } from './helpers.js';

/**
 * A one-node cluster on real LevelDB. `stateCommitDelayMs` holds every state commit that long
 * before it reaches LevelDB, so the window in which the in-memory state is ahead of LevelDB (an
 * apply in flight) is wide enough to be hit.
 */
async function startNode(stateCommitDelayMs = 0): Promise<SessionNode> {
  const dataDir = tempDir('backup-node');
  const options = oneNodeOptions(dataDir, { clusterId: 'unit-backup' });
  const level = await openLevelStorage(dataDir);
  const state = level.state;
  const storage: Storage = {
    log: level.log,
    snapshots: level.snapshots,
    state: {
      appliedIndex: () => state.appliedIndex(),
      commit: async (ops, index) => {
        if (stateCommitDelayMs > 0) await new Promise((r) => setTimeout(r, stateCommitDelayMs));
        return state.commit(ops, index);
      },
      replaceAll: (entries, index) => state.replaceAll(entries, index),
      beginInstall: (index) => state.beginInstall(index),
      putBatch: (pairs) => state.putBatch(pairs),
      endInstall: (index) => state.endInstall(index),
      installing: () => state.installing(),
      entries: () => state.entries(),
      close: () => state.close(),
    },
    close: () => level.close(),
  };
  const node = await SessionNode.open({ options, logger: silentLogger, storage, transport: testTransport(), clock: SYSTEM_CLOCK, random: Math.random });
  node.start();
  stopAfterTest(node);
  for (let i = 0; i < 400 && node.status().raft.role !== 'leader'; i++) await new Promise((r) => setTimeout(r, 5));
  expect(node.status().raft.role).toBe('leader');
  return node;
}

function create(i: number): SessionCommand {
  return {
    type: 'create',
    sessionId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    clientId: `client-${i % 7}`,
    transport: 'http',
    data: { i, pad: 'x'.repeat(200) },
    ttlMs: 3_600_000,
    maxLifetimeMs: 0,
  };
}

describe('state copies of a running node', () => {
  it('hold exactly the state at their index while writes continue, with its digest', async () => {
    const node = await startNode(1);
    const answered = new Map<string, number>(); // session id → index of its SYNC answer
    let next = 0;
    const writeSome = async (count: number): Promise<void> => {
      await Promise.all(
        Array.from({ length: count }, async () => {
          const command = create(next++) as Extract<SessionCommand, { type: 'create' }>;
          const outcome = await node.write(command, { durability: 'sync' });
          answered.set(command.sessionId, outcome.index);
        }),
      );
    };
    await writeSome(300);
    let writing = true;
    const writer = (async () => {
      while (writing) await writeSome(20);
    })();
    await new Promise((r) => setTimeout(r, 30));
    const answeredBefore = new Map(answered);

    const copy = await node.openStateCopy();
    const header = copy.header;
    expect(header).toMatchObject({ clusterId: 'unit-backup', nodeId: 1, members: [{ id: 1, address: '127.0.0.1:1', voter: true }] });
    const pairs: [string, Uint8Array][] = [];
    for await (const [key, value] of copy.pairs()) {
      pairs.push([key, Uint8Array.from(value)]);
      if (pairs.length % 50 === 0) await new Promise((r) => setTimeout(r, 1)); // a slow reader: writes go on
    }
    writing = false;
    await writer;

    expect(node.status().appliedIndex).toBeGreaterThan(header.index); // the state moved on during the copy
    const copied = new Set(pairs.filter(([k]) => k.startsWith('s/')).map(([k]) => k.slice(2)));
    for (const [id, index] of answeredBefore) expect(copied.has(id), `${id} answered at ${index} before the copy`).toBe(true);
    for (const [id, index] of answered) expect(copied.has(id), `${id} answered at ${index}, copy at ${header.index}`).toBe(index <= header.index);
    expect(copied.size).toBe(header.sessionCount);

    const rebuilt = new SessionStateMachine();
    await rebuilt.load(pairs);
    expect(rebuilt.appliedIndex).toBe(header.index);
    expect(rebuilt.digest()).toBe(header.stateDigest);
  });

  it('open their iterator where the LevelDB state is the in-memory state (atRest), called at any moment under load', async () => {
    const node = await startNode(3);
    let next = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) await Promise.all(Array.from({ length: 30 }, () => node.write(create(next++), { durability: 'sync' })));
    })();
    const checks: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, Math.random() * 4));
      const opened = await node.atRest((rest) => {
        const iterator = rest.entries()[Symbol.asyncIterator]();
        const first = iterator.next();
        return { index: rest.stateAppliedIndex, sessions: rest.sessionCount, iterator, first };
      });
      const { index, sessions, iterator, first } = opened;
      checks.push(
        (async () => {
          const { unpackValue } = await import('../../../src/session/codec.js');
          let applied: unknown;
          let count = 0;
          for (let r = await first; !r.done; r = await iterator.next()) {
            if (r.value[0] === 'm/applied') applied = unpackValue(r.value[1]);
            if (r.value[0].startsWith('s/')) count++;
          }
          expect({ applied, count }).toEqual({ applied: index, count: sessions });
        })(),
      );
    }
    writing = false;
    await writer;
    await Promise.all(checks);
    expect(next).toBeGreaterThan(200);
  });

  it(`are bounded at ${BACKUPS_CONCURRENT_MAX} per node, and a closed one frees its slot`, async () => {
    const node = await startNode();
    await node.write(create(1));
    const copies = [];
    for (let i = 0; i < BACKUPS_CONCURRENT_MAX; i++) copies.push(await node.openStateCopy());
    await expect(node.openStateCopy()).rejects.toBeInstanceOf(OverloadedError);
    await copies[0]!.close();
    const again = await node.openStateCopy();
    let count = 0;
    for await (const _ of again.pairs()) count++; // ending the pairs frees the slot too
    expect(count).toBeGreaterThan(0);
    const third = await node.openStateCopy();
    await third.close();
    await copies[1]!.close();
  });

  it('are refused by a stopped node', async () => {
    const node = await startNode();
    await node.stop({ transferLeadership: false });
    await expect(node.openStateCopy()).rejects.toThrow(/shutting down|stopping|stopped/i);
  });

  it('wait for a linearizable read (with the deadline and signal of the call) before the copy is opened', async () => {
    const events: string[] = [];
    let releaseRead!: () => void;
    const signal = new AbortController().signal;
    const source = new BackupSource({
      read: (async (_query: unknown, options: unknown) => {
        events.push(`read ${JSON.stringify(options)}`);
        await new Promise<void>((resolve) => (releaseRead = resolve));
        events.push('read answered');
      }) as never,
      atRest: async (f) => {
        events.push('at rest');
        return f({
          stateAppliedIndex: 0 as LogIndex,
          sessionCount: 0,
          status: { clusterId: 'c', raft: { id: 1, term: 1 }, members: [], stateDigest: 'd' } as unknown as NodeStatus,
          entries: async function* () {},
        });
      },
    });
    const opening = source.openStateCopy({ deadlineMs: 1234, signal });
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual(['read {"deadlineMs":1234,"signal":{},"consistency":"linearizable"}']);
    releaseRead();
    const copy = await opening;
    expect(events).toEqual(['read {"deadlineMs":1234,"signal":{},"consistency":"linearizable"}', 'read answered', 'at rest']);
    await copy.close();
  });

  it('fail when the pairs do not hold the index or the session count their header claims', async () => {
    const { packValue } = await import('../../../src/session/codec.js');
    const restingWith = (pairs: [string, Uint8Array][], index: number, sessionCount: number): RestingState => ({
      stateAppliedIndex: index as LogIndex,
      sessionCount,
      status: { clusterId: 'c', raft: { id: 1, term: 2 }, members: [], stateDigest: 'd' } as unknown as NodeStatus,
      entries: async function* () {
        yield* pairs;
      },
    });
    const source = (rest: RestingState): BackupSource =>
      new BackupSource({ read: async () => undefined as never, atRest: async (f) => f(rest) });
    const pairs: [string, Uint8Array][] = [['m/applied', packValue(7)], ['s/a', packValue(1)]];
    const drain = async (rest: RestingState): Promise<number> => {
      let n = 0;
      for await (const _ of (await source(rest).openStateCopy()).pairs()) n++;
      return n;
    };
    expect(await drain(restingWith(pairs, 7, 1))).toBe(2);
    await expect(drain(restingWith(pairs, 8, 1))).rejects.toThrow(/holds applied index 7, its header says 8/);
    await expect(drain(restingWith(pairs, 7, 2))).rejects.toThrow(/holds 1 sessions, its header says 2/);
  });
});
