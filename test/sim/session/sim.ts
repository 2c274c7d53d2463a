/**
 * One seed of the simulation of real nodes: N real SessionNodes (node loop, Raft core, session
 * state machine) over in-memory storage, a seeded network and a virtual clock; clients that
 * create, touch, update and read sessions with TTLs through the node's write/read API (SYNC
 * writes, and ASYNC ones confirmed SYNC, with request ids retried until a definite answer;
 * LINEARIZABLE and STALE reads on any node); faults (loss, duplication, delay, partitions,
 * crashes that lose unsynced writes, also just before or after any storage write, restarts,
 * pauses), with snapshots taken, sent and installed often. As answers arrive: an ASYNC
 * acknowledgement names an index its node's log made durable, a SYNC one carries its applied
 * result. After every tick: one leader per term, equal digests at equal applied indexes, no
 * node loop crashed. At the end: liveness after healing, every per-session history
 * linearizable under the expiring-session model, no session resurrected by a STALE read.
 *
 * Where to extend it: faults are injectFaults() (membership changes through the node's API
 * would be one more there, with the hosts map growing); client operations are issue(),
 * attempt() and outputOf(), and the model (model.ts) if they change what a session shows.
 */
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { NotLeaderError, SessionNode, resolveNodeOptions, type Durability, type NodeOptions, type NodePlantedBugs, type WriteOutcome } from '../../../src/node/index.js';
import type { LogIndex, NodeId } from '../../../src/raft/index.js';
import type { Session, SessionCommand } from '../../../src/session/index.js';
import { createMemoryStorage, type LogUpdate, type MemoryStorage, type Storage } from '../../../src/storage/index.js';
import { checkOperationsVerbose } from '../../lincheck/checker.js';
import { SimNetwork } from '../network.js';
import { Prng } from '../prng.js';
import { expiringSessionModel, type SessionInput, type SessionOperation, type SessionOutput, type SessionView } from './model.js';
import { SimClock, SimTransport, VirtualTime, drain, type Envelope } from './world.js';

export interface SessionSimConfig {
  readonly seed: number;
  /** @default chosen by the seed: 3 or 5 */
  readonly nodes?: 3 | 5;
  /** Ticks of the fault phase. @default 300 */
  readonly steps?: number;
  /** A runtime bug planted in every node (the simulation must report a violation). */
  readonly bug?: NodeBugName;
}

export const NODE_BUG_NAMES = ['syncAckBeforeCommit', 'asyncAckBeforeFsync', 'applyBeforePersist', 'snapshotInstallOutOfOrder'] as const satisfies readonly (keyof NodePlantedBugs)[];
export type NodeBugName = (typeof NODE_BUG_NAMES)[number];

export interface SessionSimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly ticks: number;
  readonly ops: number;
  readonly checkedSessions: number;
  /** Sessions left out of the check: a write whose outcome stayed unknown to the end. */
  readonly uncheckedSessions: number;
  readonly crashes: number;
  /** Snapshots from a leader installed by a running node. */
  readonly snapshotInstalls: number;
  /**
   * Restarts that found a snapshot file newer than both the state and the log's snapshot (a
   * crash between a received snapshot's file and the log pointing at it).
   */
  readonly restartsWithStraySnapshotFile: number;
  /** Installs while the same node was reading its state for its own snapshot. */
  readonly installsDuringStateRead: number;
  /** sha256 of the checked history: equal for two runs of one seed (determinism). */
  readonly historyHash: string;
  readonly violations: readonly string[];
}

const TICK_MS = 50;
const ELECTION_TICKS = 10;
/** A client gives up an attempt after this long and retries with the same request id. */
const ATTEMPT_TIMEOUT_MS = 1_500;
/** A client gives up an operation after this long (its outcome is then unknown). */
const OPERATION_TIMEOUT_MS = 15_000;
const LIVENESS_TICKS_MAX = 40 * ELECTION_TICKS;
/** After the heal, calls sent this much later must all be answered (elections have settled). */
const HEALED_QUIET_MS = 4 * ELECTION_TICKS * TICK_MS;
/** Ticks of normal operation after liveness, clients still working. */
const QUIET_TICKS = 8 * ELECTION_TICKS;
const SETTLE_TICKS = 200;
const silent = pino({ level: 'silent' });

interface Host {
  readonly id: number;
  storage: MemoryStorage;
  clock: SimClock;
  transport: SimTransport;
  node: SessionNode | undefined;
  state: 'up' | 'down' | 'paused';
  /** Deliveries held while paused (a stalled process reads its socket later). */
  held: Envelope[];
  restartAtTick: number;
  resumeAtTick: number;
  incarnation: number;
  loopError: Error | undefined;
  /** Indexes this incarnation's log saves made durable (what an ASYNC answer may name). */
  written: Set<number>;
  /** Reads of the whole state in progress (the node taking its own snapshot). */
  stateReads: number;
  /** It was the leader at the last check (a tick ago at most). */
  leads: boolean;
}

interface Attempt {
  readonly startedMs: number;
  /** The incarnation the attempt went to: the log it wrote (undefined: the node was down). */
  readonly written: ReadonlySet<number> | undefined;
  readonly incarnation: number;
  settled: boolean;
  result?: { ok: true; value: unknown } | { ok: false; error: unknown };
}

/** An operation as a client issues it (its interval is known only once it ends). */
type OpInput = SessionInput extends infer T ? (T extends unknown ? Omit<T, 'callMs' | 'returnMs'> : never) : never;

interface PendingOp {
  readonly clientId: number;
  readonly input: OpInput;
  readonly callMs: number;
  readonly requestSeq: number;
  readonly consistency: 'linearizable' | 'stale';
  /**
   * A write's durability on its next attempt: 'async' until the node acknowledges it, then
   * 'sync' retries with the same request id until one answers with the applied result.
   */
  durability: Durability;
  /** Sent ASYNC at least once: a SYNC retry may then share that attempt's ASYNC answer. */
  readonly sentAsync: boolean;
  target: number;
  /** Where a read was served (for failure reports). */
  servedAt?: string;
  attempt: Attempt | undefined;
}

interface ReadAnswer {
  readonly session: Session | undefined;
  readonly index: LogIndex;
  readonly readTimeMs: number;
}

interface Client {
  readonly id: number;
  readonly sessions: string[];
  generation: number;
  seq: number;
  leaderGuess: number;
  op: PendingOp | undefined;
  nextValue: number;
}

export async function runSessionSimulation(config: SessionSimConfig): Promise<SessionSimResult> {
  return new SessionSimulation(config).run();
}

class SessionSimulation {
  private readonly rng: Prng;
  private readonly faults: Prng;
  private readonly time = new VirtualTime();
  private readonly clock = { tick: 0 };
  private readonly network: SimNetwork<Envelope>;
  private readonly hosts = new Map<number, Host>();
  private readonly clients: Client[] = [];
  private readonly history: SessionOperation[] = [];
  private readonly uncertain = new Set<string>();
  private readonly violations: string[] = [];
  private readonly leaderOfTerm = new Map<number, number>();
  private readonly digestAt = new Map<number, string>();
  /** Per node and incarnation: sessions a STALE read saw, then saw gone. */
  private readonly staleSeen = new Map<string, 'present' | 'gone'>();
  private readonly staleGoneAt = new Map<string, string>();
  /**
   * Every session some client created, with the expiry of the last answer about it: all
   * clients work on all sessions (so operations on one session overlap), and race its expiry.
   */
  private readonly knownExpiryMs = new Map<string, number>();
  private readonly nodeCount: number;
  private readonly steps: number;
  private readonly crashProb: number;
  /** Per storage write: the process dies just before or just after it (mid-Ready, mid-install). */
  private readonly storageCrashProb: number;
  /** Per append a leader makes durable (its own fsync): it dies just before or after it. */
  private readonly leaderAppendCrashProb: number;
  /** Per write of a received snapshot's install: the log pointing at it, the state replaced. */
  private readonly installCrashProb: number;
  /** Per snapshot file saved (own or received) and per compaction of the log. */
  private readonly ownSnapshotCrashProb: number;
  private readonly pauseProb: number;
  private readonly partitionProb: number;
  /** Low, so that snapshots are taken, sent and installed often (a node down a while needs one). */
  private readonly snapshotEntriesThreshold: number;
  /**
   * How long reading the whole state takes on a running node (its own snapshot is read off the
   * loop, as from a LevelDB iterator): a snapshot from the leader may be installed meanwhile.
   */
  private readonly stateReadDelayMs: number;
  /** Of the writes: the share sent ASYNC first (then confirmed SYNC with the same request id). */
  private readonly asyncShare: number;
  private readonly durabilityRng: Prng;
  private crashes = 0;
  private snapshotInstalls = 0;
  private restartsWithStraySnapshotFile = 0;
  private installsDuringStateRead = 0;
  private faultPhase = true;
  private healedAtMs = Number.POSITIVE_INFINITY;
  private clientsEnabled = true;

  constructor(private readonly config: SessionSimConfig) {
    this.rng = new Prng(config.seed);
    this.faults = this.rng.fork('faults');
    this.nodeCount = config.nodes ?? (this.rng.fork('nodes').chance(0.5) ? 5 : 3);
    this.steps = config.steps ?? 300;
    const knobs = this.rng.fork('knobs');
    this.crashProb = knobs.float() * 0.01;
    this.storageCrashProb = knobs.float() * 0.004;
    const crashKnobs = this.rng.fork('crash-points');
    this.leaderAppendCrashProb = crashKnobs.float() * 0.02;
    this.installCrashProb = crashKnobs.float() * 0.2;
    this.ownSnapshotCrashProb = crashKnobs.float() * 0.02;
    const snapshots = this.rng.fork('snapshots');
    this.snapshotEntriesThreshold = snapshots.int(4, 24);
    this.stateReadDelayMs = snapshots.int(0, 10) * TICK_MS;
    this.pauseProb = knobs.float() * 0.005;
    this.partitionProb = knobs.float() * 0.01;
    this.asyncShare = this.rng.fork('async').float() * 0.6;
    this.durabilityRng = this.rng.fork('durability');
    this.network = new SimNetwork<Envelope>(this.rng.fork('net'), {
      dropProb: knobs.float() * 0.05,
      dupProb: knobs.float() * 0.02,
      delayTicksMax: knobs.int(1, 3),
      spikeProb: knobs.float() * 0.01,
    });
    this.network.onLoss = (envelope) => {
      if (envelope.message.type === 'snapshot') this.hosts.get(envelope.from)?.transport.snapshotStatus(envelope.to, false);
    };
    const clientRng = this.rng.fork('clients');
    const clientCount = clientRng.int(2, 5);
    for (let c = 1; c <= clientCount; c++) {
      const sessions = Array.from({ length: clientRng.int(1, 3) }, (_, k) => `c${c}-s${k}`);
      this.clients.push({ id: c, sessions, generation: 0, seq: 0, leaderGuess: 1, op: undefined, nextValue: 1 });
    }
  }

  async run(): Promise<SessionSimResult> {
    for (let id = 1; id <= this.nodeCount; id++) this.hosts.set(id, this.newHost(id));
    for (const host of this.hosts.values()) await this.start(host);
    for (let t = 0; t < this.steps && this.violations.length === 0; t++) await this.tick();
    this.faultPhase = false;
    if (this.violations.length === 0) await this.heal();
    if (this.violations.length === 0) await this.liveness();
    // A quiet stretch of normal operation: every call must now be answered.
    for (let t = 0; t < QUIET_TICKS && this.violations.length === 0; t++) await this.tick();
    if (this.violations.length === 0) await this.settle();
    this.checkHistory();
    for (const host of this.hosts.values()) this.crash(host, false);
    await drain();
    return {
      seed: this.config.seed,
      nodes: this.nodeCount,
      ticks: this.clock.tick,
      ops: this.history.length,
      checkedSessions: new Set(this.history.map((op) => op.input.sessionId)).size,
      uncheckedSessions: this.uncertain.size,
      crashes: this.crashes,
      snapshotInstalls: this.snapshotInstalls,
      restartsWithStraySnapshotFile: this.restartsWithStraySnapshotFile,
      installsDuringStateRead: this.installsDuringStateRead,
      historyHash: createHash('sha256').update(JSON.stringify(this.history)).digest('hex'),
      violations: this.violations,
    };
  }

  // ---------------------------------------------------------------- hosts


  private options(id: number): NodeOptions {
    const peers = new Map<NodeId, string>();
    for (let k = 1; k <= this.nodeCount; k++) peers.set(k as NodeId, `sim-${k}:1`);
    return resolveNodeOptions({
      id: id as NodeId,
      clusterId: 'sim',
      listenAddress: `sim-${id}:1`,
      peers,
      dataDir: '/nonexistent',
      tickIntervalMs: TICK_MS,
      electionTimeoutTicks: ELECTION_TICKS,
      heartbeatIntervalTicks: 1,
      snapshotEntriesThreshold: this.snapshotEntriesThreshold,
      expirySweepIntervalMs: 500,
      requestTimeoutMs: OPERATION_TIMEOUT_MS,
    });
  }

  private newHost(id: number): Host {
    const clock = new SimClock(this.time);
    return {
      id,
      storage: createMemoryStorage(),
      clock,
      transport: this.newTransport(id),
      node: undefined,
      state: 'down',
      held: [],
      restartAtTick: 0,
      resumeAtTick: 0,
      incarnation: 0,
      loopError: undefined,
      written: new Set(),
      stateReads: 0,
      leads: false,
    };
  }

  private newTransport(id: number): SimTransport {
    return new SimTransport(id, this.network, this.clock);
  }

  private async start(host: Host): Promise<void> {
    host.incarnation++;
    host.written = new Set();
    host.stateReads = 0;
    host.leads = false;
    host.clock = new SimClock(this.time);
    host.transport = this.newTransport(host.id);
    const random = this.rng.fork(`node-${host.id}-${host.incarnation}`);
    if (host.incarnation > 1) await this.inspectDisk(host.storage);
    let node: SessionNode;
    try {
      node = await this.open(host, random);
    } catch (error) {
      // A node must always come back from what its disk holds.
      this.violations.push(`node ${host.id} cannot restart from its disk at tick ${this.clock.tick}: ${(error as Error).message}`);
      host.restartAtTick = Number.POSITIVE_INFINITY;
      return;
    }
    node.start();
    const incarnation = host.incarnation;
    void node.failed.promise.then((error) => {
      if (host.incarnation === incarnation && host.state !== 'down') host.loopError = error;
    });
    host.node = node;
    host.state = 'up';
    host.held = [];
  }

  /** Counts what a restart finds on the disk (for the regression seeds of the snapshot races). */
  private async inspectDisk(storage: Storage): Promise<void> {
    const [log, file, applied] = await Promise.all([storage.log.load(), storage.snapshots.latest(), storage.state.appliedIndex()]);
    if (file !== undefined && file.meta.index > applied && file.meta.index > (log.snapshot?.index ?? 0)) this.restartsWithStraySnapshotFile++;
  }

  private open(host: Host, random: Prng): Promise<SessionNode> {
    return SessionNode.open({
      options: this.options(host.id),
      logger: silent,
      storage: this.withCrashPoints(host, host.storage),
      transport: host.transport,
      clock: host.clock,
      random: () => random.float(),
      ...(this.config.bug ? { plantedBugs: { [this.config.bug]: true } } : {}),
    });
  }

  /**
   * The node's storage, where any write may be the last thing the process does: the host
   * crashes just before or just after the write, and the node's continuation never runs (the
   * promise never settles, as in a dead process). Any write with storageCrashProb; a leader's
   * own append (its fsync) with leaderAppendCrashProb; the log pointing at a received snapshot
   * and the state replaced by it with installCrashProb (a crash just before the log save is one
   * just after the snapshot's file); snapshot files and compactions with ownSnapshotCrashProb.
   */
  private withCrashPoints(host: Host, storage: Storage): Storage {
    const incarnation = host.incarnation;
    const written = host.written;
    const dies = (prob: number): boolean => {
      if (!this.faultPhase || host.incarnation !== incarnation || host.state === 'down') return false;
      if (!this.faults.chance(prob)) return false;
      const majority = Math.floor(this.nodeCount / 2) + 1;
      if ([...this.hosts.values()].filter((h) => h.state !== 'down').length <= majority) return false;
      this.crash(host);
      host.restartAtTick = this.clock.tick + this.faults.int(1, 4 * ELECTION_TICKS);
      return true;
    };
    const never = new Promise<never>(() => undefined);
    const point =
      <A extends unknown[], R>(write: (...args: A) => Promise<R>, prob: (...args: NoInfer<A>) => number) =>
      async (...args: A): Promise<R> => {
        if (dies(prob(...args))) return never;
        const result = await write(...args);
        if (dies(prob(...args))) return never;
        return result;
      };
    const any = (): number => this.storageCrashProb;
    const install = (): number => Math.max(this.storageCrashProb, this.installCrashProb);
    const own = (): number => Math.max(this.storageCrashProb, this.ownSnapshotCrashProb);
    const logSave = (update: LogUpdate): number => {
      if (update.snapshot) return install();
      // As of the last check (status() per write would cost more than the rest of the write).
      const leads = update.entries.length > 0 && host.leads;
      return leads ? Math.max(this.storageCrashProb, this.leaderAppendCrashProb) : this.storageCrashProb;
    };
    return {
      log: {
        load: () => storage.log.load(),
        save: point(async (update: LogUpdate) => {
          await storage.log.save(update);
          for (const entry of update.entries) written.add(entry.index);
        }, logSave),
        compact: point((meta) => storage.log.compact(meta), own),
        close: () => storage.log.close(),
      },
      state: {
        appliedIndex: () => storage.state.appliedIndex(),
        commit: point((ops, index) => storage.state.commit(ops, index), any),
        replaceAll: point((entries, index) => {
          if (host.node !== undefined) this.snapshotInstalls++;
          if (host.node !== undefined && host.stateReads > 0) this.installsDuringStateRead++;
          return storage.state.replaceAll(entries, index);
        }, install),
        // Recovery reads the state before the node runs (host.node unset): at once.
        entries: () => (host.node === undefined ? storage.state.entries() : this.slowly(host, storage.state.entries())),
        close: () => storage.state.close(),
      },
      snapshots: { save: point((meta, data) => storage.snapshots.save(meta, data), own), latest: () => storage.snapshots.latest() },
      close: () => storage.close(),
    };
  }

  /**
   * The state's pairs as of now (the store reads them on the first next(), as a LevelDB iterator
   * takes its snapshot when created), handed out only after stateReadDelayMs on the host's clock,
   * and never if the host crashes first.
   */
  private async *slowly(host: Host, pairs: AsyncIterable<readonly [string, Uint8Array]>): AsyncIterable<readonly [string, Uint8Array]> {
    const iterator = pairs[Symbol.asyncIterator]();
    const first = iterator.next();
    const incarnation = host.incarnation;
    host.stateReads++;
    try {
      if (this.stateReadDelayMs > 0) await new Promise<void>((resolve) => host.clock.setTimeout(resolve, this.stateReadDelayMs));
      for (let next = await first; next.done !== true; next = await iterator.next()) yield next.value;
    } finally {
      if (host.incarnation === incarnation) host.stateReads--;
    }
  }

  /** Loses the process: its loop, timers, waiters; the disk keeps what was synced (and maybe more). */
  private crash(host: Host, countIt = true): void {
    if (host.state === 'down') return;
    host.state = 'down';
    host.transport.close();
    host.clock.dead = true;
    host.node = undefined;
    host.held = [];
    const kept = this.faults.chance(0.5) ? Infinity : this.faults.int(0, 3);
    host.storage = host.storage.restart({ unsyncedWritesKept: kept });
    if (countIt) this.crashes++;
  }

  // ---------------------------------------------------------------- the loop

  private async tick(): Promise<void> {
    this.clock.tick++;
    this.time.nowMs += TICK_MS;
    if (this.faultPhase) await this.injectFaults();
    for (const host of this.hosts.values()) if (host.state === 'up') host.clock.fireDue();
    this.deliver();
    if (this.clientsEnabled) this.driveClients();
    await drain();
    this.check();
  }

  private deliver(): void {
    for (let envelope = this.network.deliverDue(this.clock.tick); envelope !== undefined; envelope = this.network.deliverDue(this.clock.tick)) {
      const host = this.hosts.get(envelope.to);
      if (host === undefined || host.state === 'down') {
        if (envelope.message.type === 'snapshot') this.hosts.get(envelope.from)?.transport.snapshotStatus(envelope.to, false);
        continue;
      }
      if (host.state === 'paused') {
        host.held.push(envelope);
        continue;
      }
      host.transport.deliver(envelope.message);
      if (envelope.message.type === 'snapshot') this.hosts.get(envelope.from)?.transport.snapshotStatus(envelope.to, true);
    }
  }

  private async injectFaults(): Promise<void> {
    const f = this.faults;
    for (const host of this.hosts.values()) {
      if (host.state === 'down' && this.clock.tick >= host.restartAtTick) await this.start(host);
      if (host.state === 'paused' && this.clock.tick >= host.resumeAtTick) this.resume(host);
    }
    const up = [...this.hosts.values()].filter((h) => h.state !== 'down');
    const majority = Math.floor(this.nodeCount / 2) + 1;
    if (up.length > majority && f.chance(this.crashProb)) {
      const host = f.pick(up);
      this.crash(host);
      host.restartAtTick = this.clock.tick + f.int(1, 4 * ELECTION_TICKS);
    }
    const running = up.filter((h) => h.state === 'up');
    if (running.length > majority && f.chance(this.pauseProb)) {
      const host = f.pick(running);
      host.state = 'paused';
      host.resumeAtTick = this.clock.tick + f.int(1, 3 * ELECTION_TICKS);
    }
    if (f.chance(this.partitionProb)) {
      this.network.heal();
      const isolated = f.int(1, this.nodeCount);
      if (f.chance(0.5)) {
        this.network.partition([[isolated], [...this.hosts.keys()].filter((id) => id !== isolated)]);
      } else {
        this.network.block(isolated, f.pick([...this.hosts.keys()].filter((id) => id !== isolated)));
      }
    } else if (f.chance(0.02)) {
      this.network.heal();
    }
  }

  private resume(host: Host): void {
    host.state = 'up';
    const held = host.held;
    host.held = [];
    for (const envelope of held) host.transport.deliver(envelope.message);
  }

  private async heal(): Promise<void> {
    this.healedAtMs = this.time.nowMs;
    this.network.heal();
    this.network.reconfigure({ delayTicksMin: 1, delayTicksMax: 2 });
    for (const host of this.hosts.values()) {
      if (host.state === 'down') await this.start(host);
      else if (host.state === 'paused') this.resume(host);
    }
  }

  /** After the heal: a write must commit and every node apply it within the budget. */
  private async liveness(): Promise<void> {
    const probe: Client = { id: 999, sessions: ['probe'], generation: 0, seq: 0, leaderGuess: 1, op: undefined, nextValue: 1 };
    this.clients.push(probe);
    const startTick = this.clock.tick;
    this.issue(probe, { sessionId: 'probe', op: 'create', ttlMs: 3_600_000 }, 'linearizable');
    let index: number | undefined;
    while (this.clock.tick - startTick < LIVENESS_TICKS_MAX && this.violations.length === 0) {
      await this.tick();
      const done = this.history.find((op) => op.input.sessionId === 'probe' && op.clientId === 999);
      if (done !== undefined && index === undefined && done.output.status === 'ok') index = this.appliedIndexMax();
      if (index !== undefined && [...this.hosts.values()].every((h) => (h.node?.status().appliedIndex ?? 0) >= index!)) return;
    }
    this.violations.push(`liveness: no committed write applied everywhere within ${LIVENESS_TICKS_MAX} ticks after healing`);
  }

  /** Stops new operations, lets the pending ones finish, and compares the nodes' final states. */
  private async settle(): Promise<void> {
    this.clientsEnabled = false;
    for (let t = 0; t < SETTLE_TICKS && this.clients.some((c) => c.op !== undefined); t++) {
      this.driveClients();
      await this.tick();
    }
    for (const client of this.clients) if (client.op !== undefined) this.finish(client, undefined);
    const target = this.appliedIndexMax();
    for (let t = 0; t < SETTLE_TICKS; t++) {
      if ([...this.hosts.values()].every((h) => (h.node?.status().appliedIndex ?? 0) >= target)) break;
      await this.tick();
    }
    const statuses = [...this.hosts.values()].map((h) => h.node!.status());
    const byIndex = new Set(statuses.map((s) => `${s.appliedIndex}:${s.stateDigest}`));
    const indexes = new Set(statuses.map((s) => s.appliedIndex));
    if (indexes.size === 1 && byIndex.size !== 1) this.violations.push(`state machine safety: digests differ at applied index ${[...indexes][0]}`);
  }

  private appliedIndexMax(): number {
    return Math.max(...[...this.hosts.values()].map((h) => h.node?.status().appliedIndex ?? 0));
  }

  private check(): void {
    for (const host of this.hosts.values()) {
      if (host.loopError !== undefined) {
        this.violations.push(`node ${host.id}: the node loop failed at tick ${this.clock.tick}: ${host.loopError.message}`);
        host.loopError = undefined;
      }
      if (host.state !== 'up' || host.node === undefined) continue;
      const status = host.node.status();
      host.leads = status.raft.role === 'leader';
      if (status.raft.role === 'leader') {
        const known = this.leaderOfTerm.get(status.raft.term);
        if (known !== undefined && known !== host.id) this.violations.push(`election safety: nodes ${known} and ${host.id} both led term ${status.raft.term}`);
        this.leaderOfTerm.set(status.raft.term, host.id);
      }
      const digest = this.digestAt.get(status.appliedIndex);
      if (digest !== undefined && digest !== status.stateDigest) {
        this.violations.push(`state machine safety: node ${host.id} at applied index ${status.appliedIndex} has digest ${status.stateDigest.slice(0, 12)}, another had ${digest.slice(0, 12)}`);
      }
      this.digestAt.set(status.appliedIndex, status.stateDigest);
    }
  }

  // ---------------------------------------------------------------- clients

  private driveClients(): void {
    for (const client of this.clients) {
      if (client.op !== undefined) {
        this.progress(client);
        continue;
      }
      if (!this.clientsEnabled || client.id === 999) continue;
      // Most of the interest is at the expiry instant: race it with touches and reads there.
      const racing = [...this.knownExpiryMs].filter(([, expiresAtMs]) => Math.abs(expiresAtMs - this.time.nowMs) <= 2 * TICK_MS);
      if (racing.length > 0 && this.rng.chance(0.7)) {
        const [sessionId] = this.rng.pick(racing);
        this.issue(client, { sessionId, op: this.rng.chance(0.4) ? 'touch' : 'read' }, this.rng.chance(0.8) ? 'linearizable' : 'stale');
        continue;
      }
      if (!this.rng.chance(0.3)) continue;
      const own = this.rng.pick(client.sessions);
      if (!this.knownExpiryMs.has(own) && !this.uncertain.has(own)) {
        this.issue(client, { sessionId: own, op: 'create', ttlMs: this.rng.int(1_000, 3_000) }, 'linearizable');
        continue;
      }
      const sessionId = this.knownExpiryMs.size > 0 ? this.rng.pick([...this.knownExpiryMs.keys()]) : own;
      const r = this.rng.float();
      if (r < 0.3) this.issue(client, { sessionId, op: 'touch' }, 'linearizable');
      else if (r < 0.45) this.issue(client, { sessionId, op: 'update', value: client.nextValue++ }, 'linearizable');
      else this.issue(client, { sessionId, op: 'read' }, r < 0.85 ? 'linearizable' : 'stale');
    }
  }

  private issue(client: Client, input: OpInput, consistency: 'linearizable' | 'stale'): void {
    const isWrite = input.op !== 'read';
    const target = isWrite ? client.leaderGuess : this.rng.int(1, this.nodeCount);
    const durability: Durability = isWrite && this.durabilityRng.chance(this.asyncShare) ? 'async' : 'sync';
    const requestSeq = isWrite ? ++client.seq : 0;
    client.op = { clientId: client.id, input, callMs: this.time.nowMs, requestSeq, consistency, durability, sentAsync: durability === 'async', target, attempt: undefined };
    this.attempt(client);
  }

  /** Starts one attempt of the client's operation on its target node. */
  private attempt(client: Client): void {
    const op = client.op!;
    const host = this.hosts.get(op.target);
    const node = host?.state === 'up' ? host.node : undefined;
    const attempt: Attempt = { startedMs: this.time.nowMs, written: node && host!.written, incarnation: host?.incarnation ?? 0, settled: false };
    op.attempt = attempt;
    if (node === undefined) {
      attempt.settled = true;
      attempt.result = { ok: false, error: new Error('node down') };
      return;
    }
    const promise = op.input.op === 'read' ? this.read(node, op) : node.write(this.command(op.input), {
      durability: op.durability,
      requestId: { clientId: `client-${client.id}`, seq: op.requestSeq },
      deadlineMs: ATTEMPT_TIMEOUT_MS,
    });
    promise.then(
      (value) => {
        attempt.settled = true;
        attempt.result = { ok: true, value };
      },
      (error: unknown) => {
        attempt.settled = true;
        attempt.result = { ok: false, error };
      },
    );
  }

  private read(node: SessionNode, op: PendingOp): Promise<ReadAnswer> {
    return node.read((view, index: LogIndex, readTimeMs) => ({ session: view.get(op.input.sessionId, readTimeMs), index, readTimeMs }), {
      consistency: op.consistency,
      deadlineMs: ATTEMPT_TIMEOUT_MS,
    });
  }

  private command(input: OpInput): SessionCommand {
    switch (input.op) {
      case 'create':
        return { type: 'create', sessionId: input.sessionId, clientId: 'sim', transport: 'sim', data: { v: 0 }, ttlMs: input.ttlMs, maxLifetimeMs: 0 };
      case 'touch':
        return { type: 'touch', sessionId: input.sessionId };
      case 'update':
        return { type: 'update', sessionId: input.sessionId, merge: { v: input.value }, expectedVersion: 0, ttlMs: 0 };
      case 'read':
        throw new Error('a read is not a command');
    }
  }

  /** Looks at the client's attempt: finished, retried, or still waiting. */
  private progress(client: Client): void {
    const op = client.op!;
    const attempt = op.attempt!;
    const expired = this.time.nowMs - op.callMs > OPERATION_TIMEOUT_MS;
    if (!attempt.settled) {
      if (this.time.nowMs - attempt.startedMs <= ATTEMPT_TIMEOUT_MS + 2 * TICK_MS) return;
      // Healed, with a leader since long: the node must answer (or refuse), never leave a call hanging.
      if (attempt.startedMs > this.healedAtMs + HEALED_QUIET_MS) {
        this.violations.push(`${op.input.op}(${op.input.sessionId}) on node ${op.target}, sent at ${attempt.startedMs} after the heal, got no answer within ${ATTEMPT_TIMEOUT_MS} ms`);
      }
      return expired ? this.finish(client, undefined) : this.retry(client, undefined);
    }
    const result = attempt.result!;
    // A write sent SYNC only must come back with its applied result (outputOf checks it).
    if (result.ok && op.sentAsync && (result.value as WriteOutcome).durability === 'async') return this.confirm(client, result.value as WriteOutcome);
    if (result.ok) return this.finish(client, this.outputOf(op, result.value));
    if (expired) return this.finish(client, undefined);
    this.retry(client, result.error);
  }

  /**
   * An ASYNC acknowledgement: its node promised that its own log holds the entry durably (the
   * contract of ASYNC; the entry may still be lost to a new leader that never had it). The
   * client then retries with the same request id as SYNC until it learns the applied result,
   * so the session stays in the linearizability check.
   */
  private confirm(client: Client, outcome: WriteOutcome): void {
    const op = client.op!;
    const attempt = op.attempt!;
    if (attempt.written !== undefined && !attempt.written.has(outcome.index)) {
      this.violations.push(
        `ASYNC durability: node ${op.target} (incarnation ${attempt.incarnation}) acknowledged ASYNC ${op.input.op}(${op.input.sessionId}) at index ${outcome.index}, which its log never made durable`,
      );
    }
    op.durability = 'sync';
    this.attempt(client);
  }

  private retry(client: Client, error: unknown): void {
    const op = client.op!;
    if (error instanceof NotLeaderError && error.leaderId !== 0) {
      op.target = error.leaderId;
      client.leaderGuess = error.leaderId;
    } else {
      op.target = this.rng.int(1, this.nodeCount);
    }
    this.attempt(client);
  }

  private outputOf(op: PendingOp, value: unknown): SessionOutput {
    if (op.input.op === 'read') {
      const { session, index, readTimeMs } = value as ReadAnswer;
      op.servedAt = `index ${index}, judged at ${readTimeMs}`;
      return session === undefined ? { status: 'notFound' } : { status: 'ok', session: viewOf(session) };
    }
    const outcome = value as WriteOutcome;
    if (outcome.durability === 'async') {
      this.violations.push(`SYNC ${op.input.op}(${op.input.sessionId}) answered before its apply, as ASYNC (index ${outcome.index})`);
      return { status: 'failed' };
    }
    const result = outcome.result as { ok: boolean; code?: string; session?: Session };
    if (result.ok && result.session !== undefined) return { status: 'ok', session: viewOf(result.session) };
    if (!result.ok && result.code === 'notFound') return { status: 'notFound' };
    this.violations.push(`${op.input.op}(${op.input.sessionId}) answered ${JSON.stringify(outcome.result)}`);
    return { status: 'failed' };
  }

  /** Records the operation (output undefined: its outcome stays unknown). */
  private finish(client: Client, output: SessionOutput | undefined): void {
    const op = client.op!;
    client.op = undefined;
    const isWrite = op.input.op !== 'read';
    if (output === undefined) {
      if (isWrite) this.uncertain.add(op.input.sessionId);
      return;
    }
    this.learn(op.input.sessionId, output);
    if (op.input.op === 'read' && op.consistency === 'stale') return this.checkStale(op, output);
    const input = { ...op.input, callMs: op.callMs, returnMs: this.time.nowMs } as SessionInput;
    this.history.push({ clientId: client.id, input, call: op.callMs, output, return: this.time.nowMs });
  }

  /** Remembers the session's expiry; a session found gone is replaced by a new one (new id). */
  private learn(sessionId: string, output: SessionOutput): void {
    if (output.status === 'ok') {
      const known = this.knownExpiryMs.get(sessionId) ?? 0;
      this.knownExpiryMs.set(sessionId, Math.max(known, output.session.expiresAtMs));
      return;
    }
    if (output.status !== 'notFound' || !this.knownExpiryMs.has(sessionId) || this.time.nowMs < this.knownExpiryMs.get(sessionId)! + 10 * TICK_MS) return;
    this.knownExpiryMs.delete(sessionId);
    // Its owner goes on with a new id: an id is never created twice.
    const owner = this.clients.find((c) => c.sessions.includes(sessionId));
    if (owner !== undefined) owner.sessions[owner.sessions.indexOf(sessionId)] = `c${owner.id}-g${++owner.generation}`;
  }

  /** A STALE read may lag, but a session it saw gone on a node never comes back there. */
  private checkStale(op: PendingOp, output: SessionOutput): void {
    const host = this.hosts.get(op.target)!;
    const key = `${host.id}/${host.incarnation}/${op.input.sessionId}`;
    const before = this.staleSeen.get(key);
    if (output.status === 'ok') {
      if (before === 'gone') this.violations.push(`stale read on node ${host.id} found ${op.input.sessionId} (v${output.session.version} until ${output.session.expiresAtMs}) at ${op.servedAt} again after it reported it gone (${this.staleGoneAt.get(key)})`);
      else this.staleSeen.set(key, 'present');
    } else if (before === 'present') {
      this.staleSeen.set(key, 'gone');
      this.staleGoneAt.set(key, op.servedAt ?? '');
    }
  }

  private checkHistory(): void {
    const checked = this.history.filter((op) => !this.uncertain.has(op.input.sessionId));
    const report = checkOperationsVerbose(expiringSessionModel, checked, { timeoutMs: 10_000 });
    if (report.result === 'illegal') {
      const example = report.counterexample;
      const describe = (op: SessionOperation): string =>
        `${expiringSessionModel.describeOperation!(op.input, op.output)} [${op.call}, ${op.return}]`;
      const lines = example === undefined ? [] : [...example.longestLinearizable.map(describe), `blocked: ${describe(example.blocked)}`, `state: ${example.stateAfter}`];
      const sessionId = example?.blocked.input.sessionId;
      const all = checked.filter((op) => op.input.sessionId === sessionId).sort((a, b) => a.call - b.call).map((op) => `${describe(op)} client ${op.clientId}`);
      this.violations.push(`linearizability: the history of ${sessionId ?? 'a session'} is not linearizable\n    ${lines.join('\n    ')}\n    history:\n      ${all.join('\n      ')}`);
    }
  }
}

function viewOf(session: Session): SessionView {
  const value = session.data.v;
  return { version: session.version, expiresAtMs: session.expiresAtMs, stampMs: session.lastActivityMs, value: typeof value === 'number' ? value : 0 };
}
