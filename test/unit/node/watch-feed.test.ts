/**
 * The node feeds its WatchHub: every change it applies, the expiry sweep's included, in order;
 * and after a restart the hub starts at the applied index the node recovered.
 */
import { describe, expect, it } from 'vitest';
import type { SessionNode } from '../../../src/node/index.js';
import { WatchHub, WatchOutOfRangeError } from '../../../src/watch/index.js';
import { RecordingOutput } from '../watch/helpers.js';
import { oneNodeOptions, openOneNode, tempDir } from './helpers.js';

async function open(dataDir: string, hub: WatchHub): Promise<SessionNode> {
  const node = await openOneNode(oneNodeOptions(dataDir, { expirySweepIntervalMs: 20 }), hub);
  for (let i = 0; i < 400 && node.status().raft.role !== 'leader'; i++) await new Promise((r) => setTimeout(r, 5));
  expect(node.status().raft.role).toBe('leader');
  return node;
}

const create = (sessionId: string, ttlMs = 3_600_000) =>
  ({ type: 'create', sessionId, clientId: 'alice', transport: 'http', data: {}, ttlMs, maxLifetimeMs: 0 }) as const;

describe('SessionNode → WatchHub', () => {
  it('feeds every applied change in order, the expiry sweep too, and restarts the hub at the recovered index', async () => {
    const dir = tempDir('watch-feed');
    const hub = new WatchHub();
    const node = await open(dir, hub);
    const out = new RecordingOutput();
    hub.subscribe({ clientId: undefined, fromIndex: 1, fromPosition: 0 }, out);
    const a = await node.write(create('a', 1_000));
    const [b, c] = await Promise.all([node.write(create('b')), node.write(create('c'))]); // one loop turn: one entry
    await node.write({ type: 'touch', sessionId: 'b' });
    await node.write({ type: 'delete', sessionId: 'c' });
    const deadline = Date.now() + 5_000;
    while (!out.batches.some((batch) => batch.events.some((e) => e.change.type === 'expired')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const events = out.batches.flatMap((batch) => batch.events.map((e) => e.change));
    expect(events.map((e) => [e.type, e.session.sessionId])).toEqual([
      ['created', 'a'],
      ['created', 'b'],
      ['created', 'c'],
      ['touched', 'b'],
      ['deleted', 'c'],
      ['expired', 'a'],
    ]);
    expect(events[0]!.index).toBe(a.index);
    expect(b.index).toBe(c.index);
    expect([events[1]!.index, events[1]!.position, events[2]!.position]).toEqual([b.index, 0, 1]);
    const applied = node.status().appliedIndex;
    expect(hub.stats().appliedIndex).toBe(applied);

    await node.stop({ transferLeadership: false });
    const after = new WatchHub();
    const restarted = await open(dir, after);
    // the node recovered its state at `applied` (LevelDB); the changes before it are not known to the new hub
    expect(after.stats().firstIndex).toBe(applied + 1);
    expect(() => after.subscribe({ clientId: undefined, fromIndex: 1, fromPosition: 0 }, new RecordingOutput())).toThrow(WatchOutOfRangeError);
    const later = new RecordingOutput();
    after.subscribe({ clientId: undefined, fromIndex: applied + 1, fromPosition: 0 }, later);
    await restarted.write(create('d'));
    expect(later.batches.flatMap((batch) => batch.events.map((e) => e.change.session.sessionId))).toEqual(['d']);
  });
});
