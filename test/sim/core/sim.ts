/**
 * One seed of the simulation of the bare core: N RaftCore nodes (core-node.ts) on in-memory
 * storage behind a simulated network, clients recording a history, faults from the seed's
 * profile, the safety invariants after every event, then a liveness phase (everything healed)
 * and a linearizability check. The whole seed runs in one chain of awaits: the stores are
 * async, but nothing else runs in between, so a seed replays bit for bit.
 */
import type { ConfChange, ConfState, Entry, Message, NodeId, ProposeResult, RaftNode, Ready } from '../../../src/raft/index.js';
import { RaftCore, nodeId } from '../../../src/raft/index.js';
import { type CoreFactory, CoreNode, StorageContractError } from './core-node.js';
import { TraceHasher } from './hash.js';
import { History, LogicalClock } from './history.js';
import { InvariantChecker, type Violation } from './invariants.js';
import { checkHistory, type LincheckVerdict } from './linearizability.js';
import { SimNetwork, type LossReason } from '../network.js';
import { Prng } from '../prng.js';
import { type BugName, PROFILE_FOR_BUG, type Profile, type ProfileName, type SeedPlan, planSeed, profileNamed } from './profiles.js';
import { CommittedValues, Workload, type ClusterAccess } from './workload.js';

export interface SimConfig {
  readonly seed: number;
  /** Cluster size; @default the profile's, else chosen by the seed (3 or 5). */
  readonly nodes?: 3 | 5;
  /** Ticks of the fault phase (the liveness phase follows). @default the profile's, else 400 */
  readonly steps?: number;
  readonly bug?: BugName;
  /** @default the bug's scenario profile, else 'mixed' */
  readonly profile?: ProfileName;
  /** Check the client history for linearizability at the end. @default true */
  readonly lincheck?: boolean;
  /** @default 5000 */
  readonly lincheckTimeoutMs?: number;
  /** Stop at the first violation (the state after one is not worth simulating). @default true */
  readonly stopOnViolation?: boolean;
  /** @default RaftCore */
  readonly createCore?: CoreFactory;
  /** Forces pre-vote on or off (else the seed decides, per its profile). */
  readonly preVote?: boolean;
  /** Forces check-quorum on or off (else the seed decides, per its profile). */
  readonly checkQuorum?: boolean;
  /** Adjusts the profile before the seed is planned (experiments, targeted tests). */
  readonly tweakProfile?: (profile: Profile) => Profile;
}

export interface SimStats {
  messagesSent: number;
  messagesDelivered: number;
  messagesLost: number;
  crashes: number;
  midReadyCrashes: number;
  restarts: number;
  partitions: number;
  pauses: number;
  confChangesProposed: number;
  confChangesCommitted: number;
  transfers: number;
  snapshotsInstalled: number;
  compactions: number;
  leaderTerms: number;
  opsOk: number;
  opsUnknown: number;
  opsFailed: number;
  livenessTicks: number;
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: 3 | 5;
  readonly profile: ProfileName;
  readonly bug: BugName | undefined;
  /** Ticks simulated (fault phase + liveness phase). */
  readonly ticks: number;
  readonly faults: number;
  /** Operations in the checked history. */
  readonly ops: number;
  readonly violations: readonly Violation[];
  readonly violationCount: number;
  readonly traceHash: string;
  readonly lincheck: LincheckVerdict;
  readonly stats: SimStats;
}

/** Liveness budget after the heal, in election timeouts. */
const LIVENESS_ELECTIONS = 20;
/** Ticks after the liveness write so in-flight operations can finish. */
const DRAIN_TICKS = 30;
/** Nodes the membership changes may create beyond the initial ones (ids are never reused). */
const EXTRA_NODES_MAX = 8;

interface Timer {
  readonly tick: number;
  readonly run: () => void | Promise<void>;
}

const CONF_KINDS = ['promote', 'add', 'remove'] as const;
type ConfKind = (typeof CONF_KINDS)[number];

interface ConfProposal {
  readonly change: ConfChange;
  readonly term: number;
  readonly tick: number;
  state: 'pending' | 'committed' | 'lost';
}

export function runSimulation(config: SimConfig): Promise<SimResult> {
  return new Simulation(config).run();
}

export class Simulation implements ClusterAccess {
  tick = 0;
  private readonly root: Prng;
  private readonly faultRng: Prng;
  private readonly orderRng: Prng;
  private readonly plan: SeedPlan;
  private readonly nodeCount: 3 | 5;
  private readonly steps: number;
  private readonly nodes = new Map<number, CoreNode>();
  private readonly net: SimNetwork<Envelope>;
  private readonly checker = new InvariantChecker();
  private readonly trace = new TraceHasher();
  private readonly clock = new LogicalClock();
  private readonly history = new History(this.clock);
  private readonly values = new CommittedValues();
  private readonly workload: Workload;
  private readonly timers: Timer[] = [];
  private readonly lossReports: Envelope[] = [];
  /** Our conf-change proposals by log index (several terms may have tried one index). */
  private readonly confProposals = new Map<number, ConfProposal[]>();
  private readonly deferredReports = new Map<number, ((core: RaftNode) => void)[]>();
  private readonly bootstrap: ConfState;
  private nextNodeId: number;
  private faults = 0;
  private partitionActive = false;
  private faultPhase = true;
  private readonly stats: SimStats = {
    messagesSent: 0, messagesDelivered: 0, messagesLost: 0, crashes: 0, midReadyCrashes: 0, restarts: 0,
    partitions: 0, pauses: 0, confChangesProposed: 0, confChangesCommitted: 0, transfers: 0,
    snapshotsInstalled: 0, compactions: 0, leaderTerms: 0, opsOk: 0, opsUnknown: 0, opsFailed: 0, livenessTicks: 0,
  };
  private readonly leaderTerms = new Set<number>();

  constructor(private readonly config: SimConfig) {
    if (!Number.isSafeInteger(config.seed) || config.seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${config.seed}`);
    this.root = new Prng(config.seed);
    const profileName = config.profile ?? (config.bug !== undefined ? PROFILE_FOR_BUG[config.bug] : 'mixed');
    const named = profileNamed(profileName);
    const profile = config.tweakProfile !== undefined ? config.tweakProfile(named) : named;
    this.plan = planSeed(profile, this.root.fork('plan'));
    this.nodeCount = config.nodes ?? profile.nodes ?? (this.root.fork('nodes').chance(0.5) ? 5 : 3);
    this.steps = config.steps ?? profile.steps ?? 400;
    if (!(Number.isInteger(this.steps) && this.steps >= 0)) throw new RangeError(`steps must be an integer ≥ 0, got ${this.steps}`);
    this.faultRng = this.root.fork('faults');
    this.orderRng = this.root.fork('order');
    this.net = new SimNetwork<Envelope>(this.root.fork('net'), this.plan.network);
    this.net.onLoss = (env: Envelope, _reason: LossReason) => this.lossReports.push(env);
    this.bootstrap = { voters: range(1, this.nodeCount).map(nodeId), learners: [] };
    this.nextNodeId = this.nodeCount + 1;
    this.workload = new Workload(this.root.fork('workload'), this.plan.workload, this.history, this);
  }

  async run(): Promise<SimResult> {
    for (let id = 1; id <= this.nodeCount; id++) await this.startNode(this.createNode(nodeId(id)));
    for (let t = 0; t < this.steps && !this.shouldStop(); t++) {
      this.tick++;
      this.checker.tick = this.tick;
      await this.faultTick();
      await this.clusterTick();
    }
    if (!this.shouldStop()) await this.livenessPhase();
    return this.finish();
  }

  // --- ClusterAccess (for the workload) ---

  reachableNodes(): CoreNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  nodeById(id: number): CoreNode | undefined {
    return this.nodes.get(id);
  }

  valueAt(key: string, index: number): string | null {
    return this.values.valueAt(key, index);
  }

  /** Feeds one input to a node's core and runs its loop; core errors become violations. */
  async input(node: CoreNode, feed: () => void): Promise<void> {
    if (!node.up || node.core === undefined) return;
    try {
      feed();
      const outcome = await node.handleReady();
      if (outcome === 'crashed') this.afterMidReadyCrash(node);
      else if (outcome === 'changed') this.observe(node);
    } catch (error) {
      this.reportError(node, error);
    }
    if (this.lossReports.length > 0) await this.flushLossReports();
  }

  // --- the loop ---

  private shouldStop(): boolean {
    return (this.config.stopOnViolation ?? true) && !this.checker.ok;
  }

  private async clusterTick(): Promise<void> {
    await this.runTimers();
    const order = this.orderRng.shuffle([...this.nodes.values()].filter((n) => n.up));
    for (const node of order) await this.input(node, () => node.core?.tick());
    await this.deliverDue();
    await this.workload.step();
  }

  private async deliverDue(): Promise<void> {
    for (let env = this.net.deliverDue(this.tick); env !== undefined; env = this.net.deliverDue(this.tick)) {
      const dest = this.nodes.get(env.to);
      if (dest === undefined || !dest.up) {
        this.lossReports.push(env);
        continue;
      }
      this.trace.addMessage(env.message);
      this.stats.messagesDelivered++;
      const message = env.message;
      await this.input(dest, () => dest.core?.step(message));
      if (message.type === 'snapshot') await this.reportToSender(env, (core) => core.reportSnapshot(nodeId(env.to), true));
    }
    await this.flushLossReports();
  }

  private observe(node: CoreNode): void {
    const core = node.core as RaftNode;
    const status = core.status();
    this.checker.observeStatus(node.id, node.incarnation, status, node.log);
    if (status.role === 'leader' && !this.leaderTerms.has(status.term)) {
      this.leaderTerms.add(status.term);
      this.stats.leaderTerms++;
    }
  }

  private reportError(node: CoreNode, error: unknown): void {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const kind = error instanceof StorageContractError ? 'storageContract' : 'coreError';
    this.checker.report(kind, `node ${node.id}: ${text}`, node.id);
    node.crash();
  }

  private async flushLossReports(): Promise<void> {
    while (this.lossReports.length > 0) {
      const env = this.lossReports.shift() as Envelope;
      this.stats.messagesLost++;
      if (env.message.type === 'snapshot') await this.reportToSender(env, (core) => core.reportSnapshot(nodeId(env.to), false));
      else if (env.message.type === 'append' && this.faultRng.chance(0.2)) {
        await this.reportToSender(env, (core) => core.reportUnreachable(nodeId(env.to)));
      }
    }
  }

  /**
   * Transport feedback goes to the incarnation that sent the message, if it still runs; a paused
   * sender gets it when it resumes (its transport finished the send meanwhile).
   */
  private async reportToSender(env: Envelope, report: (core: RaftNode) => void): Promise<void> {
    const sender = this.nodes.get(env.from);
    if (sender === undefined || sender.incarnation !== env.fromIncarnation) return;
    if (sender.state === 'paused') {
      const list = this.deferredReports.get(sender.id);
      if (list === undefined) this.deferredReports.set(sender.id, [report]);
      else list.push(report);
      return;
    }
    if (!sender.up) return;
    await this.input(sender, () => report(sender.core as RaftNode));
  }

  private async resume(node: CoreNode): Promise<void> {
    node.state = 'up';
    const reports = this.deferredReports.get(node.id) ?? [];
    this.deferredReports.delete(node.id);
    for (const report of reports) await this.input(node, () => report(node.core as RaftNode));
  }

  // --- nodes ---

  private createNode(id: NodeId): CoreNode {
    const plan = this.plan;
    const bug = this.config.bug;
    const node = new CoreNode(
      {
        id,
        bootstrapConfState: this.bootstrap,
        raft: {
          electionTimeoutTicks: plan.raft.electionTimeoutTicks,
          heartbeatIntervalTicks: plan.raft.heartbeatIntervalTicks,
          preVote: this.config.preVote ?? plan.raft.preVote,
          checkQuorum: this.config.checkQuorum ?? plan.raft.checkQuorum,
          appendBatchBytesMax: plan.raft.appendBatchBytesMax,
          inflightMessagesMax: plan.raft.inflightMessagesMax,
          ...(bug !== undefined && bug !== 'sendBeforePersist' ? { plantedBugs: { [bug]: true } } : {}),
        },
        compactEveryEntries: plan.compactEveryEntries,
        sendBeforePersist: bug === 'sendBeforePersist',
        createCore: this.config.createCore ?? ((options, initial) => new RaftCore(options, initial)),
        randomFor: (incarnation) => {
          const rng = this.root.fork(`core:${id}:${incarnation}`);
          return () => rng.float();
        },
      },
      {
        checker: this.checker,
        trace: this.trace,
        send: (m) => this.send(node, m),
        crashMidReady: (n, rd) => this.crashMidReady(n, rd),
        onApplied: (_n, e) => {
          this.values.record(e);
          this.onApplied(e);
        },
        onSnapshotRestored: () => {
          this.stats.snapshotsInstalled++;
        },
      },
    );
    this.nodes.set(id, node);
    return node;
  }

  private async startNode(node: CoreNode): Promise<void> {
    this.deferredReports.delete(node.id);
    try {
      await node.start();
      this.observe(node);
    } catch (error) {
      this.reportError(node, error);
      return;
    }
    await this.input(node, () => {});
  }

  private send(from: CoreNode, m: Message): void {
    this.stats.messagesSent++;
    this.net.send({ from: m.from, to: m.to, fromIncarnation: from.incarnation, message: m }, this.tick);
  }

  private crashMidReady(node: CoreNode, rd: Ready): boolean {
    if (!this.faultPhase || rd.messages.length === 0) return false;
    const p = this.plan.profile;
    if (this.faultRng.chance(p.midReadyCrashProb)) return true;
    if (rd.entries.length > 0 && node.role === 'leader' && this.faultRng.chance(p.leaderAppendCrashProb)) return true;
    if (rd.softState?.role === 'leader' && this.faultRng.chance(p.newLeaderCrashProb)) return true;
    const grantsVote = rd.messages.some((m) => m.type === 'voteResponse' && m.reject !== true);
    return grantsVote && this.faultRng.chance(p.voteCrashProb);
  }

  private afterMidReadyCrash(node: CoreNode): void {
    this.stats.midReadyCrashes++;
    this.faults++;
    this.scheduleRestart(node);
  }

  private scheduleRestart(node: CoreNode): void {
    const [lo, hi] = this.plan.profile.crash.downTicks;
    const incarnation = node.incarnation;
    this.at(this.tick + this.faultRng.int(lo, hi), async () => {
      if (node.state === 'down' && node.incarnation === incarnation) await this.restart(node);
    });
  }

  private async restart(node: CoreNode): Promise<void> {
    this.stats.restarts++;
    await this.startNode(node);
  }

  private onApplied(e: Entry): void {
    const tried = this.confProposals.get(e.index);
    if (tried === undefined) return;
    let p: ConfProposal | undefined;
    for (const candidate of tried) {
      if (candidate.term === e.term && e.type === 'confChange') p = candidate;
      else candidate.state = 'lost'; // another entry took its index: it can never commit
    }
    if (p === undefined || p.state === 'committed') return;
    p.state = 'committed';
    this.stats.confChangesCommitted++;
    if (p.change.type !== 'removeNode') return;
    const removed = this.nodes.get(p.change.node);
    if (removed === undefined) return;
    const [lo, hi] = this.plan.profile.membership.retireDelayTicks;
    this.at(this.tick + this.faultRng.int(lo, hi), () => removed.retire());
  }

  // --- faults ---

  private at(tick: number, run: () => void | Promise<void>): void {
    this.timers.push({ tick, run });
  }

  private async runTimers(): Promise<void> {
    const due = this.timers.filter((t) => t.tick <= this.tick);
    if (due.length === 0) return;
    const later = this.timers.filter((t) => t.tick > this.tick);
    this.timers.length = 0;
    this.timers.push(...later);
    for (const t of due) await t.run();
  }

  private async faultTick(): Promise<void> {
    const p = this.plan.profile;
    const rng = this.faultRng;
    if (!this.partitionActive && rng.chance(p.partition.perTickProb)) this.partition();
    if (rng.chance(p.crash.perTickProb)) this.crashSome();
    if (rng.chance(p.pause.perTickProb)) this.pauseSome();
    if (rng.chance(p.membership.perTickProb)) await this.membershipBurst();
    if (rng.chance(p.transferPerTickProb)) await this.transfer();
  }

  private leader(): CoreNode | undefined {
    let best: CoreNode | undefined;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (!n.up || n.role !== 'leader' || n.core === undefined) continue;
      const t = n.core.status().term;
      if (t > bestTerm) {
        best = n;
        bestTerm = t;
      }
    }
    return best;
  }

  private liveNodes(): CoreNode[] {
    return [...this.nodes.values()].filter((n) => n.state !== 'retired');
  }

  private partition(): void {
    const p = this.plan.profile.partition;
    const rng = this.faultRng;
    const ids = this.liveNodes().map((n) => n.id as number);
    if (ids.length < 2) return;
    if (rng.chance(p.oneWayShare)) {
      const links = rng.int(1, ids.length);
      for (let k = 0; k < links; k++) {
        const [a, b] = rng.shuffle(ids.slice());
        this.net.block(a as number, b as number);
      }
    } else {
      const leader = this.leader();
      const shuffled = rng.shuffle(ids.slice());
      let minority: number[];
      if (leader !== undefined && rng.chance(p.isolateLeaderShare)) {
        const others = shuffled.filter((id) => id !== leader.id);
        const companionsMax = Math.max(0, Math.floor((ids.length - 1) / 2) - 1);
        minority = [leader.id, ...others.slice(0, rng.int(0, companionsMax))];
      } else {
        minority = shuffled.slice(0, rng.int(1, Math.floor(ids.length / 2)));
      }
      const rest = ids.filter((id) => !minority.includes(id));
      this.net.partition([minority, rest]);
    }
    this.partitionActive = true;
    this.stats.partitions++;
    this.faults++;
    this.at(this.tick + rng.int(p.durationTicks[0], p.durationTicks[1]), () => this.heal());
  }

  private heal(): void {
    this.net.heal();
    this.partitionActive = false;
  }

  private crashSome(): void {
    const c = this.plan.profile.crash;
    const live = this.liveNodes();
    const down = live.filter((n) => n.state === 'down').length;
    if (down >= Math.max(1, Math.floor(live.length * c.downShareMax))) return;
    const leader = this.leader();
    const up = live.filter((n) => n.up);
    if (up.length === 0) return;
    if (c.leaderOnly === true && leader === undefined) return;
    const target = leader !== undefined && (c.leaderOnly === true || this.faultRng.chance(c.leaderBias)) ? leader : this.faultRng.pick(up);
    target.crash();
    this.stats.crashes++;
    this.faults++;
    this.scheduleRestart(target);
  }

  private pauseSome(): void {
    const p = this.plan.profile.pause;
    const up = this.liveNodes().filter((n) => n.up);
    if (up.length === 0) return;
    const leader = this.leader();
    const target = leader !== undefined && this.faultRng.chance(p.leaderBias) ? leader : this.faultRng.pick(up);
    target.state = 'paused';
    this.stats.pauses++;
    this.faults++;
    const incarnation = target.incarnation;
    this.at(this.tick + this.faultRng.int(p.ticks[0], p.ticks[1]), async () => {
      if (target.state === 'paused' && target.incarnation === incarnation) await this.resume(target);
    });
  }

  private async transfer(): Promise<void> {
    const leader = this.leader();
    if (leader === undefined || leader.core === undefined) return;
    const voters = leader.core.status().confState.voters.filter((v) => v !== leader.id);
    if (voters.length === 0) return;
    const to = this.faultRng.pick(voters);
    this.stats.transfers++;
    this.faults++;
    await this.input(leader, () => leader.core?.transferLeadership(to));
  }

  private async membershipBurst(): Promise<void> {
    const m = this.plan.profile.membership;
    const burst = this.faultRng.int(1, m.burstMax);
    // Operators send changes to whichever node claims leadership, stale leaders included.
    const claimants = [...this.nodes.values()].filter((n) => n.up && n.role === 'leader');
    if (claimants.length === 0) return;
    const leader = this.faultRng.pick(claimants);
    // A burst repeats one kind of change: two voter changes in a row are the dangerous ones.
    const preferred = this.faultRng.pick(CONF_KINDS);
    for (let k = 0; k < burst; k++) {
      if (!leader.up || leader.role !== 'leader') break;
      const change = await this.pickConfChange(leader, preferred);
      if (change === undefined) break;
      await this.proposeConfChange(leader, change);
    }
    if (this.faultRng.chance(m.partitionAfterBurstProb)) {
      this.at(this.tick + this.faultRng.int(0, 3), () => {
        if (this.faultPhase && !this.partitionActive) this.partition();
      });
    }
  }

  /** The membership the leader is heading to: its view plus our proposals still in flight. */
  private plannedConf(leader: CoreNode): { voters: number[]; learners: number[] } {
    const conf = (leader.core as RaftNode).status().confState;
    const voters = new Set<number>(conf.voters);
    const learners = new Set<number>(conf.learners);
    for (const p of [...this.confProposals.values()].flat()) {
      if (p.state !== 'pending' || this.tick - p.tick > 10 * this.plan.raft.electionTimeoutTicks) continue;
      const n = p.change.node;
      if (p.change.type === 'removeNode') {
        voters.delete(n);
        learners.delete(n);
      } else if (p.change.type === 'addVoter') {
        learners.delete(n);
        voters.add(n);
      } else if (!voters.has(n)) learners.add(n);
    }
    return { voters: [...voters].sort((a, b) => a - b), learners: [...learners].sort((a, b) => a - b) };
  }

  /** A change valid against the planned membership; `preferred` kind first when possible. */
  private async pickConfChange(leader: CoreNode, preferred?: ConfKind): Promise<ConfChange | undefined> {
    const m = this.plan.profile.membership;
    const rng = this.faultRng;
    const conf = this.plannedConf(leader);
    const kinds: ConfKind[] = [];
    // A careful operator (and etcd's server) promotes only a learner that has caught up.
    const status = (leader.core as RaftNode).status();
    const caughtUp = (id: number): boolean => (status.peers.find((p) => p.id === id)?.match ?? 0) >= status.commit;
    const promotable = conf.learners.filter((id) => this.nodes.get(id)?.state !== 'retired' && caughtUp(id));
    if (promotable.length > 0) kinds.push('promote');
    if (conf.voters.length + conf.learners.length < m.membersMax && this.nextNodeId <= this.nodeCount + EXTRA_NODES_MAX) kinds.push('add');
    if (Math.min(conf.voters.length, status.confState.voters.length) > m.votersMin || conf.learners.length > 0) kinds.push('remove');
    if (kinds.length === 0) return undefined;
    const kind = preferred !== undefined && kinds.includes(preferred) ? preferred : rng.pick(kinds);
    if (kind === 'promote') return { type: 'addVoter', node: nodeId(rng.pick(promotable)) };
    if (kind === 'add') {
      const id = nodeId(this.nextNodeId++);
      await this.startNode(this.createNode(id));
      return rng.chance(m.addVoterShare) ? { type: 'addVoter', node: id } : { type: 'addLearner', node: id };
    }
    // Both views must stay above the floor: ours may miss a change that the leader already has.
    const votersNow = Math.min(conf.voters.length, status.confState.voters.length);
    const removable = votersNow > m.votersMin ? conf.voters : conf.learners;
    const target = removable.includes(leader.id) && rng.chance(m.removeLeaderShare) ? leader.id : rng.pick(removable);
    return { type: 'removeNode', node: nodeId(target) };
  }

  private async proposeConfChange(leader: CoreNode, change: ConfChange): Promise<void> {
    this.stats.confChangesProposed++;
    this.faults++;
    await this.input(leader, () => {
      let result: ProposeResult;
      try {
        result = (leader.core as RaftNode).proposeConfChange(change);
      } catch (error) {
        // Our planned membership was off (a change landed or was lost meanwhile): refused.
        if (error instanceof RangeError) return;
        throw error;
      }
      if (!result.ok) return;
      const proposal: ConfProposal = { change, term: result.term, tick: this.tick, state: 'pending' };
      const tried = this.confProposals.get(result.index);
      if (tried === undefined) this.confProposals.set(result.index, [proposal]);
      else tried.push(proposal);
    });
  }

  // --- liveness ---

  /** Heals every fault, then demands a leader and a committed write within the budget. */
  private async livenessPhase(): Promise<void> {
    this.faultPhase = false;
    this.net.heal();
    this.partitionActive = false;
    this.net.reconfigure({ delayTicksMin: 1, delayTicksMax: this.plan.network.delayTicksMax });
    this.timers.length = 0;
    for (const n of this.liveNodes()) {
      if (n.state === 'paused') await this.resume(n);
      else if (n.state === 'down') await this.restart(n);
    }
    const budgetTicks = LIVENESS_ELECTIONS * this.plan.raft.electionTimeoutTicks + this.catchUpTicks();
    const healTick = this.tick;
    const probe = new LivenessProbe();
    let drainUntil = Infinity;
    while (this.tick - healTick < budgetTicks + DRAIN_TICKS && this.tick < drainUntil && !this.shouldStop()) {
      this.tick++;
      this.checker.tick = this.tick;
      await this.clusterTick();
      if (drainUntil !== Infinity || this.tick - healTick > budgetTicks) continue;
      if (await this.livenessStep(probe)) {
        this.stats.livenessTicks = this.tick - healTick;
        drainUntil = this.tick + DRAIN_TICKS;
        this.workload.enabled = false;
      }
    }
    if (drainUntil === Infinity && !this.shouldStop()) {
      this.checker.report(
        'liveness',
        `no committed write within ${budgetTicks} ticks after healing (${probe.describe(this)})`,
      );
    }
  }

  /**
   * Ticks the slowest catch-up may take by flow control alone: the backlog between the longest
   * log and the lowest commit, sent at worst one entry per append (appendBatchBytesMax can be
   * 1 byte) and inflightMessagesMax appends per round trip. Without it, profiles that allow
   * one-entry appends with a window of 1-2 over lossy links fail liveness while still catching
   * up (FINDINGS 7).
   */
  private catchUpTicks(): number {
    const live = this.liveNodes().filter((n) => n.core !== undefined);
    if (live.length === 0) return 0;
    const statuses = live.map((n) => (n.core as RaftNode).status());
    const backlogEntries = Math.max(...statuses.map((st) => st.lastIndex)) - Math.min(...statuses.map((st) => st.commit));
    const roundTripTicksMax = 2 * (this.plan.network.delayTicksMax + 1);
    return Math.ceil((backlogEntries * roundTripTicksMax) / this.plan.raft.inflightMessagesMax);
  }

  /** True once a write went through the leader and every live member applied it. */
  private async livenessStep(probe: LivenessProbe): Promise<boolean> {
    if (probe.index === 0) {
      if (probe.inFlight) return false;
      const leader = this.leader();
      if (leader === undefined) return false;
      probe.inFlight = true;
      probe.attempts++;
      const clientId = 1000 + probe.attempts;
      await this.workload.probeWrite(clientId, leader, 'live', `probe${probe.attempts}`, (ok, index) => {
        probe.inFlight = false;
        if (ok) probe.index = index;
      });
      const attempt = probe.attempts;
      this.at(this.tick + 4 * this.plan.raft.electionTimeoutTicks, () => {
        if (probe.attempts === attempt) probe.inFlight = false;
      });
      return false;
    }
    const leader = this.leader();
    if (leader === undefined) return false;
    const conf = (leader.core as RaftNode).status().confState;
    for (const id of [...conf.voters, ...conf.learners]) {
      const n = this.nodes.get(id);
      if (n === undefined || n.state === 'retired') continue;
      if (!n.up || n.applied.index < probe.index) return false;
    }
    return true;
  }

  // --- the end ---

  private finish(): SimResult {
    this.history.closeAll();
    const ops = this.history.checkable();
    let verdict: LincheckVerdict = 'skipped';
    if ((this.config.lincheck ?? true) && this.checker.ok) {
      const outcome = checkHistory(ops, { timeoutMs: this.config.lincheckTimeoutMs ?? 5000 });
      verdict = outcome.verdict;
      if (verdict === 'illegal') {
        this.checker.report('linearizability', `the client history (${ops.length} operations) is not linearizable:\n${outcome.explanation ?? ''}`);
      }
    }
    const counts = this.history.counts();
    this.stats.opsOk = counts.ok;
    this.stats.opsUnknown = counts.unknown;
    this.stats.opsFailed = counts.failed;
    for (const n of this.nodes.values()) this.stats.compactions += n.compactions;
    const profile = this.plan.profile.name;
    return {
      seed: this.config.seed,
      nodes: this.nodeCount,
      profile,
      bug: this.config.bug,
      ticks: this.tick,
      faults: this.faults,
      ops: ops.length,
      violations: this.checker.violations,
      violationCount: this.checker.violationCount,
      traceHash: this.trace.digest(),
      lincheck: verdict,
      stats: this.stats,
    };
  }
}

interface Envelope {
  readonly from: number;
  readonly to: number;
  readonly fromIncarnation: number;
  readonly message: Message;
}

class LivenessProbe {
  index = 0;
  inFlight = false;
  attempts = 0;

  describe(sim: Simulation): string {
    const nodes = sim.reachableNodes().map((n) => `${n.id}:${n.role}@${n.core?.status().term ?? '-'}/applied ${n.applied.index}`);
    return `probe attempts ${this.attempts}, probe index ${this.index}; nodes ${nodes.join(', ')}`;
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}
