/**
 * One seed of the simulation of real nodes: N real SessionNodes (node loop, Raft core, session
 * state machine) over in-memory storage, a seeded network and a virtual clock; clients that
 * create, touch, update and read sessions with TTLs through the node's write/read API (SYNC
 * writes, and ASYNC ones confirmed SYNC, with request ids retried until a definite answer;
 * LINEARIZABLE and STALE reads on any node); faults (loss, duplication, delay, partitions,
 * crashes that lose unsynced writes, also just before or after any storage write, restarts,
 * pauses), with snapshots taken, sent and installed often; in half the seeds, membership
 * changes through the node's API (members.ts: new nodes added as learners and promoted, members
 * removed or replaced, transfers; the hosts map grows and shrinks). As answers arrive: an ASYNC
 * acknowledgement names an index its node's log made durable, a SYNC one carries its applied
 * result, a membership call fails only with a documented error. After every tick: one leader per
 * term, equal digests at equal applied indexes, no node loop crashed, configurations within the
 * workload's bounds and no removed id a member again. At the end: liveness over the current
 * members after healing, equal configurations, every per-session history linearizable under the
 * expiring-session model, no session resurrected by a STALE read.
 *
 * Where to extend it: faults are injectFaults() and memberFaults(); client operations are
 * issue(), attempt() and outputOf(), and the model (model.ts) if they change what a session shows.
 */
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { NodeError, NotLeaderError, SessionNode, resolveNodeOptions, type Durability, type MemberChange, type NodeOptions, type NodePlantedBugs, type NodeStatus, type WriteOutcome } from '../../../src/node/index.js';
import type { ConfState, LogIndex, NodeId, RaftOptions, RaftStatus } from '../../../src/raft/index.js';
import type { Session, SessionCommand } from '../../../src/session/index.js';
import { createMemoryStorage, type LogUpdate, type MemoryStorage, type Storage } from '../../../src/storage/index.js';
import { checkOperationsVerbose } from '../../lincheck/checker.js';
import { SimNetwork } from '../network.js';
import { Prng } from '../prng.js';
import { isDocumentedMemberError, pickMemberChange, type MemberBounds, type MemberStep } from './members.js';
import { expiringSessionModel, type SessionInput, type SessionOperation, type SessionOutput, type SessionView } from './model.js';
import { SimClock, SimTransport, VirtualTime, drain, type Envelope } from './world.js';

export interface SessionSimConfig {
  readonly seed: number;
  /** @default chosen by the seed: 3 or 5 */
  readonly nodes?: 3 | 5;
  /** Ticks of the fault phase. @default 300 */
  readonly steps?: number;
  /** A runtime bug planted in every node (the simulation must report a violation). */
  readonly bug?: NodeBugName | CoreBugName;
  /** Membership changes through the node API (members.ts). @default chosen by the seed: half of them */
  readonly membership?: boolean;
}

export const NODE_BUG_NAMES = ['syncAckBeforeCommit', 'asyncAckBeforeFsync', 'applyBeforePersist', 'snapshotInstallOutOfOrder'] as const satisfies readonly (keyof NodePlantedBugs)[];
export type NodeBugName = (typeof NODE_BUG_NAMES)[number];
/** Planted in the core (src/raft/api.ts); caught here only with the membership workload on. */
export const CORE_BUG_NAMES = ['unsafeMembershipChange'] as const satisfies readonly (keyof NonNullable<RaftOptions['plantedBugs']>)[];
export type CoreBugName = (typeof CORE_BUG_NAMES)[number];

export interface SessionSimResult {
  readonly seed: number;
  readonly nodes: number;
  /** The membership workload ran (config.membership, or the seed's draw). */
  readonly membership: boolean;
  /** Membership changes that changeMembership reported applied. */
  readonly memberChanges: number;
  /** Nodes started under a new id (to be added as learners). */
  readonly nodesAdded: number;
  /** Membership calls by kind and outcome ('promote ok', 'remove FAILED_PRECONDITION', 'transfer TIMEOUT'...). */
  readonly memberOutcomes: Readonly<Record<string, number>>;
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
/** Nodes the membership workload may start under new ids (ids are never reused). */
const NEW_NODES_MAX = 6;
/** A membership call's deadline (changeMembership, transferLeadership). */
const MEMBER_CALL_TIMEOUT_MS = 3_000;
/** A removed member keeps running this long (it must not disrupt the cluster), then stops. */
const RETIRE_TICKS_MIN = 5;
const RETIRE_TICKS_MAX = 80;
const silent = pino({ level: 'silent' });

interface Host {
  readonly id: number;
  /** Started empty to join the running cluster (no bootstrap peers; hints to reach the members). */
  readonly joiner: boolean;
  readonly peerHints: ReadonlyMap<NodeId, string>;
  /** Its removal is committed: it stops for good at this tick (infinite: not removed). */
  retireAtTick: number;
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
  /** As of the last check: its configuration (with its log's last changes), term and commit. */
  conf: ConfState | undefined;
  term: number;
  commit: number;
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
  /** The membership workload (members.ts): on in half the seeds. */
  private readonly membership: boolean;
  private readonly memberRng: Prng;
  private readonly memberChangeProb: number;
  private readonly transferProb: number;
  private readonly memberBounds: MemberBounds;
  private nextNodeId: number;
  /** Per removed id: the index of its removal, known committed (changeMembership returned it). */
  private readonly removedAt = new Map<number, number>();
  /** Replaced members whose successor is still to be added. */
  private owedAdds = 0;
  private memberChanges = 0;
  private readonly memberOutcomes = new Map<string, number>();

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
    const members = this.rng.fork('membership');
    const drawn = members.chance(0.5);
    this.membership = config.membership ?? (isCoreBug(config.bug) || drawn);
    this.memberRng = members.fork('workload');
    this.memberChangeProb = 0.02 + members.float() * 0.04;
    this.transferProb = members.float() * 0.01;
    this.memberBounds = { votersMin: 2, membersMax: this.nodeCount + 2, promoteLagEntriesMax: 16 };
    this.nextNodeId = this.nodeCount + 1;
    const clientRng = this.rng.fork('clients');
    const clientCount = clientRng.int(2, 5);
    for (let c = 1; c <= clientCount; c++) {
      const sessions = Array.from({ length: clientRng.int(1, 3) }, (_, k) => `c${c}-s${k}`);
      this.clients.push({ id: c, sessions, generation: 0, seq: 0, leaderGuess: 1, op: undefined, nextValue: 1 });
    }
  }

  async run(): Promise<SessionSimResult> {
    for (let id = 1; id <= this.nodeCount; id++) this.hosts.set(id, this.newHost(id, undefined));
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
      membership: this.membership,
      memberChanges: this.memberChanges,
      nodesAdded: this.nextNodeId - this.nodeCount - 1,
      memberOutcomes: Object.fromEntries(this.memberOutcomes),
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


  private options(host: Host): NodeOptions {
    const peers = new Map<NodeId, string>();
    if (!host.joiner) for (let k = 1; k <= this.nodeCount; k++) peers.set(k as NodeId, addressOf(k));
    return resolveNodeOptions({
      id: host.id as NodeId,
      clusterId: 'sim',
      listenAddress: addressOf(host.id),
      peers,
      ...(host.joiner ? { peerHints: host.peerHints } : {}),
      promoteLagEntriesMax: this.memberBounds.promoteLagEntriesMax,
      dataDir: '/nonexistent',
      tickIntervalMs: TICK_MS,
      electionTimeoutTicks: ELECTION_TICKS,
      heartbeatIntervalTicks: 1,
      snapshotEntriesThreshold: this.snapshotEntriesThreshold,
      expirySweepIntervalMs: 500,
      requestTimeoutMs: OPERATION_TIMEOUT_MS,
    });
  }

  /** `peerHints` undefined: one of the cluster's first members (bootstrapped from the peers). */
  private newHost(id: number, peerHints: ReadonlyMap<NodeId, string> | undefined): Host {
    const clock = new SimClock(this.time);
    return {
      id,
      joiner: peerHints !== undefined,
      peerHints: peerHints ?? new Map(),
      retireAtTick: Number.POSITIVE_INFINITY,
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
      conf: undefined,
      term: 0,
      commit: 0,
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
      options: this.options(host),
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
      if (!this.spareOne([...this.hosts.values()].filter((h) => h.state !== 'down'))) return false;
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
        replaceAll: point((entries, index) => storage.state.replaceAll(entries, index), install),
        beginInstall: point((index) => {
          if (host.node !== undefined) this.snapshotInstalls++;
          if (host.node !== undefined && host.stateReads > 0) this.installsDuringStateRead++;
          return storage.state.beginInstall(index);
        }, install),
        putBatch: point((pairs) => storage.state.putBatch(pairs), install),
        endInstall: point((index) => storage.state.endInstall(index), install),
        installing: () => storage.state.installing(),
        // Recovery reads the state before the node runs (host.node unset): at once.
        entries: () => (host.node === undefined ? storage.state.entries() : this.slowly(host, storage.state.entries())),
        close: () => storage.state.close(),
      },
      snapshots: {
        save: point((meta, data) => storage.snapshots.save(meta, data), own),
        latest: () => storage.snapshots.latest(),
        latestInfo: () => storage.snapshots.latestInfo(),
        readChunks: (info, chunkBytes, fromOffset) => storage.snapshots.readChunks(info, chunkBytes, fromOffset),
        stage: (meta, writer) => storage.snapshots.stage(meta, writer),
        takeStaged: (meta) => storage.snapshots.takeStaged(meta),
        create: () => {
          const writer = storage.snapshots.create();
          return {
            get bytes() {
              return writer.bytes;
            },
            digest: () => writer.digest(),
            write: (chunk) => writer.write(chunk),
            commit: point((meta) => writer.commit(meta), own),
            abort: () => writer.abort(),
          };
        },
      },
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
    if (this.spareOne(up) && f.chance(this.crashProb)) {
      const host = f.pick(up);
      this.crash(host);
      host.restartAtTick = this.clock.tick + f.int(1, 4 * ELECTION_TICKS);
    }
    const running = up.filter((h) => h.state === 'up');
    if (this.spareOne(running) && f.chance(this.pauseProb)) {
      const host = f.pick(running);
      host.state = 'paused';
      host.resumeAtTick = this.clock.tick + f.int(1, 3 * ELECTION_TICKS);
    }
    if (f.chance(this.partitionProb)) {
      this.network.heal();
      const isolated = this.pickHostId(f);
      if (f.chance(0.5)) {
        this.network.partition([[isolated], [...this.hosts.keys()].filter((id) => id !== isolated)]);
      } else {
        this.network.block(isolated, f.pick([...this.hosts.keys()].filter((id) => id !== isolated)));
      }
    } else if (f.chance(0.02)) {
      this.network.heal();
    }
    if (this.membership) await this.memberFaults();
  }

  /** A host id at random (1..nodeCount without the membership workload). */
  private pickHostId(rng: Prng): number {
    return rng.pick([...this.hosts.keys()]);
  }

  /** Whether a quorum of voters stays alive if one more of `alive` stops (crashes and pauses keep one). */
  private spareOne(alive: readonly Host[]): boolean {
    if (!this.membership) return alive.length > Math.floor(this.nodeCount / 2) + 1;
    const voters = this.referenceConf()?.voters;
    if (voters === undefined) return false;
    const aliveVoters = alive.filter((h) => voters.includes(h.id as NodeId)).length;
    return aliveVoters > Math.floor(voters.length / 2) + 1;
  }

  /** The configuration of the leader of the highest term as of the last check (else of the furthest node). */
  private referenceConf(): ConfState | undefined {
    let best: Host | undefined;
    for (const h of this.hosts.values()) {
      if (h.conf === undefined || h.state === 'down') continue;
      const better = best === undefined || (h.leads && !best.leads) || (h.leads === best.leads && (h.term > best.term || (h.term === best.term && h.commit > best.commit)));
      if (better) best = h;
    }
    return best?.conf;
  }

  // ---------------------------------------------------------------- membership

  /**
   * The membership workload (members.ts) through the node's API, on whichever node believes it
   * leads: removed members stop once their time is up; now and then a leadership transfer; and
   * membership changes, sometimes a burst back to back (the later ones are normally refused as
   * in flight) with that leader cut off right after, while its changes are uncommitted.
   */
  private async memberFaults(): Promise<void> {
    for (const host of [...this.hosts.values()]) if (this.clock.tick >= host.retireAtTick) this.retire(host);
    const m = this.memberRng;
    if (m.chance(this.transferProb)) this.transfer();
    if (!m.chance(this.memberChangeProb)) return;
    const leader = this.claimedLeader();
    if (leader === undefined) return;
    const burst = m.chance(0.3) ? m.int(2, 3) : 1;
    for (let k = 0; k < burst && leader.node !== undefined; k++) await this.changeMembers(leader, leader.node);
    if (burst > 1 && m.chance(0.5)) {
      this.network.heal();
      this.network.partition([[leader.id], [...this.hosts.keys()].filter((id) => id !== leader.id)]);
    }
  }

  private claimedLeader(): Host | undefined {
    const leaders = [...this.hosts.values()].filter((h) => h.state === 'up' && h.node !== undefined && h.leads);
    return leaders.length === 0 ? undefined : this.memberRng.pick(leaders);
  }

  /** Picks a change against the leader's configuration and proposes it there (synchronously). */
  private async changeMembers(leader: Host, node: SessionNode): Promise<void> {
    const raft = node.status().raft;
    const step = pickMemberChange(this.memberRng, raft, this.memberBounds, {
      spare: this.spareHost(raft.confState),
      newId: this.nextNodeId <= this.nodeCount + NEW_NODES_MAX ? () => this.nextNodeId++ as NodeId : undefined,
      owedAdds: this.owedAdds,
      addressOf: (id) => addressOf(id),
    });
    if (step === undefined) return;
    let joiner: Host | undefined;
    if (step.change.type === 'add' && !this.hosts.has(step.change.id)) {
      // A new node: empty storage, no bootstrap peers, the members' addresses as hints.
      const hints = new Map(Object.entries(raft.confState.addresses ?? {}).map(([id, address]) => [Number(id) as NodeId, address]));
      joiner = this.newHost(step.change.id, hints);
      this.hosts.set(joiner.id, joiner);
    }
    const change = step.change;
    const kind = step.replace ? 'replace' : change.type === 'remove' && change.id === leader.id ? 'remove-self' : change.type;
    node.changeMembership(change, { deadlineMs: MEMBER_CALL_TIMEOUT_MS }).then(
      (index) => {
        this.count(`${kind} ok`);
        this.memberChanged(step, index);
      },
      (error: unknown) => this.memberCallFailed(leader, kind, `changeMembership(${JSON.stringify(change)})`, error),
    );
    if (joiner !== undefined) await this.start(joiner);
  }

  /** A started node that is not a member of `conf` and was never removed: added before a new id. */
  private spareHost(conf: ConfState): NodeId | undefined {
    for (const host of this.hosts.values()) {
      const id = host.id as NodeId;
      if (!host.joiner || host.retireAtTick !== Number.POSITIVE_INFINITY || this.removedAt.has(id)) continue;
      if (conf.voters.includes(id) || conf.learners.includes(id) || conf.removed?.includes(id)) continue;
      return id;
    }
    return undefined;
  }

  private memberChanged(step: MemberStep, index: LogIndex): void {
    this.memberChanges++;
    if (step.change.type === 'add' && this.owedAdds > 0) this.owedAdds--;
    if (step.change.type !== 'remove') return;
    const id = step.change.id;
    if (!this.removedAt.has(id)) this.removedAt.set(id, index);
    if (step.replace) this.owedAdds++;
    const host = this.hosts.get(id);
    if (host === undefined) return;
    // A replaced member stops for good at once; a removed one runs a while first.
    const at = step.replace ? this.clock.tick : this.clock.tick + this.memberRng.int(RETIRE_TICKS_MIN, RETIRE_TICKS_MAX);
    host.retireAtTick = Math.min(host.retireAtTick, at);
  }

  private count(outcome: string): void {
    this.memberOutcomes.set(outcome, (this.memberOutcomes.get(outcome) ?? 0) + 1);
  }

  private memberCallFailed(host: Host, kind: string, what: string, error: unknown): void {
    this.count(`${kind} ${error instanceof NodeError ? error.code : 'other'}`);
    if (isDocumentedMemberError(error)) return;
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.violations.push(`membership: ${what} on node ${host.id} at tick ${this.clock.tick} failed with an error the API does not document: ${text}`);
  }

  private transfer(): void {
    const leader = this.claimedLeader();
    const voters = leader?.conf?.voters.filter((id) => id !== leader.id) ?? [];
    if (leader === undefined || voters.length === 0) return;
    const target = this.memberRng.pick(voters);
    leader.node!.transferLeadership(target, { deadlineMs: MEMBER_CALL_TIMEOUT_MS }).then(
      () => this.count('transfer ok'),
      (error: unknown) => this.memberCallFailed(leader, 'transfer', `transferLeadership(${target})`, error),
    );
  }

  /** Stops a host for good: its id is never used again. */
  private retire(host: Host): void {
    this.crash(host, false);
    this.hosts.delete(host.id);
  }

  /** The hosts of the current members (every host without the membership workload). */
  private memberHosts(): (Host | undefined)[] {
    if (!this.membership) return [...this.hosts.values()];
    const conf = this.referenceConf();
    if (conf === undefined) return [undefined];
    return [...conf.voters, ...conf.learners].map((id) => this.hosts.get(id));
  }

  /**
   * Per check: the configuration stays within what the workload asked for (a joining node shows
   * the bootstrap changes one by one while it receives them: counted once it holds them all),
   * and an id whose removal committed is a member nowhere that has committed that far.
   */
  private checkMembership(host: Host, raft: RaftStatus): void {
    const { voters, learners } = raft.confState;
    const members = voters.length + learners.length;
    const { votersMin, membersMax } = this.memberBounds;
    if (raft.lastIndex >= this.nodeCount && (voters.length < votersMin || members > membersMax)) {
      this.violations.push(
        `membership bounds: node ${host.id} has voters [${voters}] and learners [${learners}] at tick ${this.clock.tick}; the workload keeps at least ${votersMin} voters and at most ${membersMax} members`,
      );
    }
    for (const [id, index] of this.removedAt) {
      if (raft.commit >= index && (voters.includes(id as NodeId) || learners.includes(id as NodeId))) {
        this.violations.push(`membership: node ${id}, removed at index ${index}, is a member again on node ${host.id} (commit ${raft.commit}, voters [${voters}], learners [${learners}])`);
      }
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
    // Removed members stop now (the membership workload stops with the faults).
    for (const host of [...this.hosts.values()]) if (host.retireAtTick !== Number.POSITIVE_INFINITY) this.retire(host);
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
      if (index !== undefined && this.memberHosts().every((h) => (h?.node?.status().appliedIndex ?? 0) >= index!)) return this.retireNonMembers();
    }
    const nodes = [...this.hosts.values()].map((h) => {
      const raft = h.node?.status().raft;
      return raft === undefined ? `node ${h.id} down` : `node ${h.id} ${raft.role} term ${raft.term} commit ${raft.commit} last ${raft.lastIndex} voters [${raft.confState.voters}] learners [${raft.confState.learners}]`;
    });
    this.violations.push(`liveness: no committed write applied everywhere within ${LIVENESS_TICKS_MAX} ticks after healing (${nodes.join('; ')})`);
  }

  /**
   * After liveness the leader has committed an entry of its term, so its configuration is final
   * (no change is proposed after the heal): nodes whose addition never committed stop here.
   */
  private retireNonMembers(): void {
    if (!this.membership) return;
    const members = new Set(this.memberHosts());
    for (const host of [...this.hosts.values()]) if (!members.has(host)) this.retire(host);
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
    const confs = new Set(statuses.map((s) => JSON.stringify(s.raft.confState)));
    if (indexes.size === 1 && confs.size !== 1) this.violations.push(`membership: the members' configurations differ after healing: ${[...confs].join(' / ')}`);
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
      host.conf = status.raft.confState;
      host.term = status.raft.term;
      host.commit = status.raft.commit;
      if (this.membership) this.checkMembership(host, status.raft);
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
    const target = isWrite ? client.leaderGuess : this.pickHostId(this.rng);
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
      if (attempt.startedMs > this.healedAtMs + HEALED_QUIET_MS && this.hosts.has(op.target)) {
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
      op.target = this.pickHostId(this.rng);
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
    // The node may have stopped for good since (a removed member): then its last incarnation.
    const incarnation = this.hosts.get(op.target)?.incarnation ?? op.attempt!.incarnation;
    const key = `${op.target}/${incarnation}/${op.input.sessionId}`;
    const before = this.staleSeen.get(key);
    if (output.status === 'ok') {
      if (before === 'gone') this.violations.push(`stale read on node ${op.target} found ${op.input.sessionId} (v${output.session.version} until ${output.session.expiresAtMs}) at ${op.servedAt} again after it reported it gone (${this.staleGoneAt.get(key)})`);
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

function addressOf(id: number): string {
  return `sim-${id}:1`;
}

function isCoreBug(bug: string | undefined): boolean {
  return (CORE_BUG_NAMES as readonly (string | undefined)[]).includes(bug);
}
