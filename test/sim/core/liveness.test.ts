/**
 * Liveness: once every fault is healed, a leader is elected and a write commits (and reaches
 * every live member) within 20 election timeouts. The check must also be able to fail.
 */
import { describe, expect, it } from 'vitest';
import { RaftCore, type RaftNode, type Ready } from '../../../src/raft/index.js';
import { runSeeds } from './runner.js';
import { runSimulation } from './sim.js';

describe('liveness after healing', () => {
  it('a calm cluster elects a leader and commits the probe quickly', async () => {
    for (const nodes of [3, 5] as const) {
      const r = await runSimulation({ seed: 5, nodes, profile: 'calm', steps: 50 });
      expect(r.violations).toEqual([]);
      expect(r.stats.leaderTerms).toBeGreaterThanOrEqual(1);
      expect(r.stats.livenessTicks).toBeGreaterThan(0);
      expect(r.stats.livenessTicks).toBeLessThan(60);
    }
  });

  it('holds after every kind of fault (20 seeds of each scenario profile)', async () => {
    for (const profile of ['mixed', 'figure8', 'membership', 'staleLeader'] as const) {
      const s = await runSeeds({ seeds: 20, firstSeed: 20_001, profile, steps: 300 });
      expect(s.failures.map((f) => `${profile} seed ${f.seed}: ${f.violations[0]?.message}`)).toEqual([]);
    }
  });

  it('reports a cluster that cannot elect a leader', async () => {
    // Vote requests never leave their node: nobody can ever win an election.
    const mute = (...args: ConstructorParameters<typeof RaftCore>): RaftNode => new WithoutVotes(new RaftCore(...args));
    const r = await runSimulation({ seed: 1, nodes: 3, profile: 'calm', steps: 20, createCore: mute });
    expect(r.violations.map((v) => v.invariant)).toEqual(['liveness']);
    expect(r.violations[0]?.message).toMatch(/no committed write within \d+ ticks after healing/);
  });
});

/** Delegates to a real core but drops its (pre-)vote requests from every Ready. */
class WithoutVotes implements RaftNode {
  private handedOut: { filtered: Ready; original: Ready } | undefined;

  constructor(private readonly core: RaftCore) {}

  ready(): Ready {
    const original = this.core.ready();
    const filtered = { ...original, messages: original.messages.filter((m) => m.type !== 'vote' && m.type !== 'preVote') };
    this.handedOut = { filtered, original };
    return filtered;
  }

  advance(ready: Ready): void {
    this.core.advance(ready === this.handedOut?.filtered ? this.handedOut.original : ready);
  }

  tick = (): void => this.core.tick();
  step: RaftNode['step'] = (m) => this.core.step(m);
  propose: RaftNode['propose'] = (d) => this.core.propose(d);
  proposeConfChange: RaftNode['proposeConfChange'] = (c) => this.core.proposeConfChange(c);
  configuration: RaftNode['configuration'] = () => this.core.configuration();
  readIndex: RaftNode['readIndex'] = (c) => this.core.readIndex(c);
  transferLeadership: RaftNode['transferLeadership'] = (to) => this.core.transferLeadership(to);
  compact: RaftNode['compact'] = (i) => this.core.compact(i);
  reportUnreachable: RaftNode['reportUnreachable'] = (p) => this.core.reportUnreachable(p);
  reportSnapshot: RaftNode['reportSnapshot'] = (p, ok) => this.core.reportSnapshot(p, ok);
  hasReady = (): boolean => this.core.hasReady();
  status: RaftNode['status'] = () => this.core.status();
}
