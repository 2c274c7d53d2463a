/**
 * The simulation of real nodes (SessionNode, Raft core, session state machine, in-memory
 * storage) under faults, checked against the expiring-session model; the model itself on
 * hand-written histories, the outside client's expiry defect among them.
 */
import { describe, expect, it } from 'vitest';
import { checkOperations } from '../../lincheck/checker.js';
import { expiringSessionModel, type SessionInput, type SessionOperation, type SessionOutput } from './model.js';
import { runSessionSimulation, type SessionSimResult } from './sim.js';

function op(clientId: number, input: { readonly op: SessionInput['op']; readonly ttlMs?: number; readonly value?: number }, call: number, ret: number, output: SessionOutput): SessionOperation {
  return { clientId, input: { ...input, sessionId: 's', callMs: call, returnMs: ret } as SessionInput, call, output, return: ret };
}

const found = (version: number, expiresAtMs: number, stampMs: number): SessionOutput => ({ status: 'ok', session: { version, expiresAtMs, stampMs, value: 0 } });

describe('the expiring-session model', () => {
  const create = op(1, { op: 'create', ttlMs: 1_000 }, 0, 10, found(1, 1_005, 5));

  it('accepts a touch before the expiry that a later read sees', () => {
    const history = [create, op(2, { op: 'touch' }, 990, 1_020, found(2, 1_995, 995)), op(3, { op: 'read' }, 1_030, 1_040, found(2, 1_995, 995))];
    expect(checkOperations(expiringSessionModel, history)).toBe('ok');
  });

  it('refuses a touch that revives a session a completed read reported gone (the outside client\'s defect)', () => {
    const history = [
      create,
      op(3, { op: 'read' }, 994, 1_006, { status: 'notFound' }),
      op(2, { op: 'touch' }, 996, 1_030, found(2, 1_997, 997)),
      op(4, { op: 'read' }, 1_007, 1_040, found(2, 1_997, 997)),
    ];
    expect(checkOperations(expiringSessionModel, history)).toBe('illegal');
  });

  it('refuses a read that returns a session after its expiry', () => {
    expect(checkOperations(expiringSessionModel, [create, op(2, { op: 'read' }, 1_010, 1_020, found(1, 1_005, 5))])).toBe('illegal');
  });

  it('refuses a write stamped outside its own interval', () => {
    expect(checkOperations(expiringSessionModel, [create, op(2, { op: 'touch' }, 500, 600, found(2, 1_450, 450))])).toBe('illegal');
  });
});

describe('the simulation of real nodes (the bulk seeds are in seeds-*.test.ts)', () => {
  // The snapshot races fixed earlier: seeds from 1 on until RACE_SEEDS of them reached the race
  // (fixed seed numbers drift off a race whenever the node or the simulation changes). With
  // either fix reverted, these fail.
  const RACE_SEEDS = 2;
  const RACE_SEEDS_MAX = 150;

  async function seedsReaching(reached: (result: SessionSimResult) => boolean): Promise<{ seeds: number[]; violations: string[] }> {
    const seeds: number[] = [];
    const violations: string[] = [];
    for (let seed = 1; seed <= RACE_SEEDS_MAX && seeds.length < RACE_SEEDS; seed++) {
      const result = await runSessionSimulation({ seed });
      if (!reached(result)) continue;
      seeds.push(seed);
      violations.push(...result.violations.map((v) => `seed ${seed}: ${v}`));
    }
    return { seeds, violations };
  }

  it('regression: a node restarts after a crash between a received snapshot\'s file and the log pointing at it', async () => {
    const { seeds, violations } = await seedsReaching((result) => result.restartsWithStraySnapshotFile > 0);
    expect(seeds, `fewer than ${RACE_SEEDS} seeds in 1-${RACE_SEEDS_MAX} reached the race`).toHaveLength(RACE_SEEDS);
    expect(violations).toEqual([]);
  }, 60_000);

  it('regression: an own snapshot superseded by an installed one while it was read is dropped', async () => {
    const { seeds, violations } = await seedsReaching((result) => result.installsDuringStateRead > 0);
    expect(seeds, `fewer than ${RACE_SEEDS} seeds in 1-${RACE_SEEDS_MAX} reached the race`).toHaveLength(RACE_SEEDS);
    expect(violations).toEqual([]);
  }, 60_000);

  it('runs every kind of membership change through the node API, and the refusals it documents', async () => {
    const outcomes = new Map<string, number>();
    const violations: string[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      const result = await runSessionSimulation({ seed, membership: true });
      violations.push(...result.violations.map((v) => `seed ${seed}: ${v}`));
      for (const [outcome, n] of Object.entries(result.memberOutcomes)) outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + n);
    }
    expect(violations).toEqual([]);
    for (const kind of ['add ok', 'promote ok', 'remove ok', 'remove-self ok', 'replace ok', 'transfer ok', 'add FAILED_PRECONDITION', 'promote FAILED_PRECONDITION']) {
      expect(outcomes.get(kind) ?? 0, `${kind} in ${JSON.stringify(Object.fromEntries(outcomes))}`).toBeGreaterThan(0);
    }
  }, 60_000);

  it('replays a membership seed bit for bit', async () => {
    const first = await runSessionSimulation({ seed: 4243, membership: true });
    const second = await runSessionSimulation({ seed: 4243, membership: true });
    expect(second.historyHash).toBe(first.historyHash);
    expect(second.memberOutcomes).toEqual(first.memberOutcomes);
    expect(first.memberChanges).toBeGreaterThan(0);
  });

  it('replays a seed bit for bit', async () => {
    const first = await runSessionSimulation({ seed: 4242 });
    const second = await runSessionSimulation({ seed: 4242 });
    expect(second.historyHash).toBe(first.historyHash);
    expect(second.ticks).toBe(first.ticks);
    expect(first.ops).toBeGreaterThan(20);
  });
});
