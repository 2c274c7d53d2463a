/**
 * The runtime around the pure core: one loop that turns inputs (ticks, peer messages, client
 * writes and reads) into Readys and handles each one in the order the core demands:
 * persist (one fsynced LevelDB batch: group commit) → send → apply → release reads → advance.
 *
 * Inputs arriving while a Ready is being persisted wait in bounded inboxes and are stepped into
 * the core together before the next Ready, so the core is never touched between ready() and
 * advance(), and every fsync covers every proposal that arrived during the previous one.
 */
import type { Logger } from 'pino';
import {
  RAFT_DEFAULTS,
  RaftCore,
  type Entry,
  type LogIndex,
  type Message,
  type NodeId,
  type ProposeResult,
  type RaftOptions,
  type Ready,
  type SnapshotMeta,
  type Term,
} from '../raft/index.js';
import { SessionStateMachine, encodeBatch, encodeBatchItem, type SessionCommand, type SessionQueries } from '../session/index.js';
import { StorageCorruptionError, type SnapshotInfo, type SnapshotWriter, type Storage } from '../storage/index.js';
import type { AppliedChangesSink } from '../watch/index.js';
import type { CallOptions, MemberChange, NodeStatus, ReadOptions, SessionBackend, WriteOptions, WriteOutcome } from './backend.js';
import { NodeError, NotLeaderError, OverloadedError, ProposalDroppedError, ShuttingDownError, TimeoutError } from './errors.js';
import { PeerAddressBook, bootstrapLog, changeIsIn, memberChangeProblem, membersOf, toConfChange } from './membership.js';
import { BackupSource, RestingCalls, type RestingState, type StateCopy, type StateCopySource } from './backup-source.js';
import type { NodeOptions } from './options.js';
import { coalesceAppends } from './coalesce.js';
import { invariant } from './invariant.js';
import type { Clock, NodeTransport, TimerHandle } from './io.js';
import { ReadBatches } from './reads.js';
import { OwnSnapshots, snapshotPhaseFraction } from './snapshots.js';
import { installSnapshotFile } from './install.js';
import { NodeStats } from './stats.js';
import { IndexQueue, armDeadline, deferred, type Deferred } from './waiters.js';
import { Writes, type PendingProposal } from './writes.js';

/** A read waiting for this node to apply up to `index`. */
interface PendingRead {
  readonly index: LogIndex;
  readonly deferred: Deferred<void>;
}

/** Ticks stepped per loop turn; the rest of a backlog is dropped (see feedCore). */
const TICKS_PER_TURN_MAX = 2;
/** Writes of one loop turn packed into one log entry, at most (more go into further entries). */
const PROPOSAL_BATCH_ITEMS_MAX = 1_024;
/** Bytes of packed commands in one entry, at most (at least one command per entry). */
const PROPOSAL_BATCH_BYTES_MAX = 512 * 1024;
/** How often a leader handing off leadership before it stops checks whether it still leads. */
const TRANSFER_POLL_INTERVAL_MS = 20;

/** Everything a node is handed: its options and its IO. */
export interface NodeIo {
  readonly options: NodeOptions;
  readonly logger: Logger;
  /** The log, state and snapshot stores; the node closes them when it stops. */
  readonly storage: Storage;
  readonly transport: NodeTransport;
  readonly clock: Clock;
  /** Uniform in [0, 1): the core's election timeouts and the read-context nonce. */
  readonly random: () => number;
  /** Told every change to a session this node applies (the watch service's WatchHub). */
  readonly changes?: AppliedChangesSink;
  /** Tests only: known bugs planted in the core (src/raft/api.ts) and in this node. */
  readonly plantedBugs?: RaftOptions['plantedBugs'] & NodePlantedBugs;
}

/**
 * Test-only switches that plant known runtime bugs, so the simulation of real nodes can prove it
 * catches them. Never set outside tests.
 */
export interface NodePlantedBugs {
  /** Answer a SYNC write once the leader persisted its entry, before it commits and applies. */
  readonly syncAckBeforeCommit?: boolean;
  /** Answer an ASYNC write when its entry is handed out to persist, before the leader's fsync. */
  readonly asyncAckBeforeFsync?: boolean;
  /** Apply committed entries before the Ready's entries and hard state are durable. */
  readonly applyBeforePersist?: boolean;
  /** Replace the state with a received snapshot before the log points at it (after its file: the install reads it). */
  readonly snapshotInstallOutOfOrder?: boolean;
}

export class SessionNode implements SessionBackend, StateCopySource {
  private readonly writes = new Writes();
  /** Counters and histograms for /metrics (src/http reads them when scraped). */
  readonly stats = new NodeStats(() => this.writes.pending);
  private readonly reads: ReadBatches;
  private readonly snapshots: OwnSnapshots;
  private readonly inbox: Message[] = [];
  private readonly appliedWaiters = new IndexQueue<PendingRead>();
  private readonly snapshotStatus: { peer: NodeId; ok: boolean }[] = [];
  private readonly unreachable = new Set<NodeId>();
  private readonly restingCalls = new RestingCalls();
  private readonly backups = new BackupSource(this);
  private pendingTicks = 0;
  private transferTarget: NodeId | undefined;
  /**
   * Log indexes that changeMembership calls wait on: the term of the entry applied there (once
   * applied) and how many calls wait. A call succeeds only if the applied entry is its own.
   */
  private readonly confWaits = new Map<LogIndex, { term: Term | undefined; calls: number }>();
  /** The last stamp this node gave a command: stamps never go back, even if the wall clock does. */
  private lastStampMs = 0;
  private applied: LogIndex;
  private leader: NodeId = 0 as NodeId;
  /**
   * The last index this node's log held when it became leader (its no-op included): entries up
   * to it may hold first attempts of requests, written under an earlier leader and not yet applied.
   */
  private leaderSettledIndex: LogIndex = 0 as LogIndex;
  private wake: Deferred<void> | undefined;
  private stopping = false;
  private loopDone: Promise<void> | undefined;
  private tickTimer: TimerHandle | undefined;
  private sweepTimer: TimerHandle | undefined;
  private failure: Error | undefined;
  /** Resolves if the loop dies (a broken invariant, a storage error): the process should exit. */
  readonly failed = deferred<Error>();

  private readonly options: NodeOptions;
  private readonly logger: Logger;
  private readonly storage: Storage;
  private readonly transport: NodeTransport;
  private readonly clock: Clock;
  private readonly bugs: NodePlantedBugs;
  private readonly changes: AppliedChangesSink | undefined;

  private constructor(io: NodeIo, core: RaftCore, stateMachine: SessionStateMachine, applied: LogIndex, snapshotIndex: LogIndex) {
    this.options = io.options;
    this.logger = io.logger;
    this.storage = io.storage;
    this.transport = io.transport;
    this.clock = io.clock;
    this.bugs = io.plantedBugs ?? {};
    this.core = core;
    this.stateMachine = stateMachine;
    this.applied = applied;
    this.changes = io.changes;
    this.changes?.reset(applied);
    this.snapshots = new OwnSnapshots(
      io.storage,
      io.logger,
      () => this.poke(),
      snapshotIndex,
      snapshotPhaseFraction(io.options.id),
      () => io.clock.nowMs(),
      (bytes, totalMs) => this.stats.snapshotTaken(bytes, totalMs),
      applied,
    );
    // Read contexts must be unique in the cluster and across restarts: id, a nonce, a counter.
    const nonce = Array.from({ length: 4 }, () => Math.floor(io.random() * 0x1_0000).toString(16).padStart(4, '0')).join('');
    this.reads = new ReadBatches(`${io.options.id}.${nonce}.`);
    this.addressBook = new PeerAddressBook(io.transport, io.options.id, new Map([...io.options.peers, ...(io.options.peerHints ?? [])]));
    io.transport.useSnapshots(io.storage.snapshots);
    this.addressBook.sync(core.configuration());
  }

  private readonly core: RaftCore;
  private stateMachine: SessionStateMachine;
  private readonly addressBook: PeerAddressBook;

  /**
   * Recovers the state machine and the core from `io.storage` (it is the node's from now on:
   * stop() closes it). Call start() to run. compose.ts opens one on LevelDB and gRPC.
   */
  static async open(io: NodeIo): Promise<SessionNode> {
    const { options, storage, logger } = io;
    const stateMachine = newStateMachine(options);
    let log = await storage.log.load();
    if (log.entries.length === 0 && log.snapshot === undefined && log.hardState.term === 0 && options.peers.size > 0) {
      // A new cluster: its membership is the first entries of its log, the same on every member.
      const bootstrap = bootstrapLog(options.peers);
      await storage.log.save(bootstrap);
      log = { hardState: bootstrap.hardState, entries: bootstrap.entries };
      logger.info({ members: Object.fromEntries(options.peers) }, 'bootstrapped a new cluster');
    }
    let applied = await storage.state.appliedIndex();
    const snapshot = await storage.snapshots.latestInfo();
    // An install a crash interrupted left a partial state behind its marker: never serve it.
    const installing = await storage.state.installing();
    if (installing && snapshot === undefined) {
      throw new StorageCorruptionError('the state holds an interrupted snapshot install, but there is no snapshot file to install again');
    }
    // A received snapshot is stored in order: the file, the log that points at it, the state. A
    // crash after the log and before the state leaves the state behind (or marked, mid-install):
    // finish the install. A crash between the file and the log leaves a file newer than the log's
    // snapshot: finish that install too, log first (the file holds a leader's applied, so
    // committed, state: the commit moves up to it). Ignoring the file instead left it on disk as
    // the newest, and a later, older snapshot from another leader could never be saved (the store
    // refuses to go back): the node loop died on it at every restart.
    const behind = snapshot !== undefined && (installing || snapshot.meta.index > applied);
    if (snapshot && behind && snapshot.meta.index > (log.snapshot?.index ?? 0)) {
      const hardState = { ...log.hardState, commit: Math.max(log.hardState.commit, snapshot.meta.index) as LogIndex };
      await storage.log.save({ hardState, entries: [], snapshot: snapshot.meta });
      log = await storage.log.load();
      logger.info({ index: snapshot.meta.index }, 'finishing the install of a received snapshot whose log save a crash interrupted');
    }
    if (snapshot && behind && log.snapshot?.index === snapshot.meta.index) {
      if (installing) logger.warn({ index: snapshot.meta.index }, 'a crash interrupted a snapshot install: installing it again from the file');
      await installSnapshotFile(storage, snapshot, stateMachine);
      applied = snapshot.meta.index;
    } else {
      invariant(!installing, () => `an interrupted install, but the snapshot file (${snapshot?.meta.index}) is not the log's (${log.snapshot?.index})`);
      await stateMachine.load(storage.state.entries());
    }
    const snapshotIndex = (log.snapshot?.index ?? 0) as LogIndex;
    const core = new RaftCore(
      {
        id: options.id,
        electionTimeoutTicks: options.electionTimeoutTicks,
        heartbeatIntervalTicks: options.heartbeatIntervalTicks,
        random: io.random,
        ...(io.plantedBugs ? { plantedBugs: io.plantedBugs } : {}),
      },
      {
        hardState: log.hardState,
        ...(log.snapshot ? { snapshot: log.snapshot } : {}),
        entries: log.entries,
        // Membership comes from the log (bootstrap entries, conf changes) and snapshots only.
        bootstrapConfState: { voters: [], learners: [] },
        applied,
      },
    );
    logger.info(
      { applied, snapshotIndex, term: log.hardState.term, lastIndex: log.entries.at(-1)?.index ?? snapshotIndex },
      'recovered from disk',
    );
    return new SessionNode(io, core, stateMachine, applied, snapshotIndex);
  }

  /** The settings replicas must share (peers compare them when they connect). */
  static sharedSettings(options: NodeOptions): string {
    return newStateMachine(options).sharedSettings;
  }

  start(): void {
    this.transport.onMessage((message) => {
      if (message.type === 'heartbeatResponse') this.stats.heartbeatAnswered(message.from);
      if (this.inbox.length >= this.options.inboxMessagesMax) return; // Raft tolerates loss.
      this.inbox.push(message);
      this.poke();
    });
    this.transport.onUnreachable((peer) => {
      this.unreachable.add(peer);
      this.poke();
    });
    this.transport.onSnapshotStatus((peer, ok) => {
      this.snapshotStatus.push({ peer, ok });
      this.poke();
    });
    this.tickTimer = this.clock.setInterval(() => {
      this.pendingTicks++;
      this.poke();
    }, this.options.tickIntervalMs);
    this.sweepTimer = this.clock.setInterval(() => this.sweepExpired(), this.options.expirySweepIntervalMs);
    this.loopDone = this.runLoop().catch((error: unknown) => {
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.logger.fatal({ err: this.failure }, 'node loop failed (a broken invariant or a storage error)');
      // Tell the owner first (it exits the process): nothing below may keep a failed node alive.
      this.failed.resolve(this.failure);
      this.failAll(new NodeError('SHUTTING_DOWN', `node failed: ${this.failure.message}`));
    });
  }


  // ---------------------------------------------------------------- SessionBackend

  /** Writes one command (submitWrite); a failure is counted by reason in `stats` on its way out. */
  write(command: SessionCommand, options: WriteOptions = {}): Promise<WriteOutcome> {
    return this.submitWrite(command, options).catch((error: unknown) => {
      this.stats.proposalFailed(error);
      throw error;
    });
  }

  private async submitWrite(command: SessionCommand, options: WriteOptions): Promise<WriteOutcome> {
    this.ensureRunning();
    if (this.leader !== this.options.id) throw this.notLeader();
    const requestId = options.requestId;
    if (requestId && this.applied < this.leaderSettledIndex) {
      // A new leader may hold this request's first attempt, sent to the previous leader and not
      // applied yet. Until it has applied what it inherited, the dedup table cannot know, and a
      // new entry would answer an ASYNC retry with a session id that will never exist.
      const startedMs = this.clock.nowMs();
      const deadlineMs = options.deadlineMs ?? this.options.requestTimeoutMs;
      await this.read(() => undefined, {
        consistency: 'stale',
        minIndex: this.leaderSettledIndex,
        deadlineMs,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return this.submitWrite(command, { ...options, deadlineMs: Math.max(1, deadlineMs - (this.clock.nowMs() - startedMs)) });
    }
    if (requestId) {
      // Exactly-once without a new entry: an applied request gets its remembered answer, and a
      // retry of one still in flight here shares its outcome.
      const remembered = this.stateMachine.rememberedAnswer(requestId);
      if (remembered) return { ...remembered, durability: 'sync' };
      const inflight = this.writes.sharedOutcome(requestId);
      if (inflight) return inflight;
    }
    if (this.writes.pending >= this.options.pendingWritesMax) {
      throw new OverloadedError('pendingWritesMax', this.options.pendingWritesMax);
    }
    const proposal: PendingProposal = {
      command,
      requestId,
      item: encodeBatchItem(requestId ? { command, requestId } : { command }),
      durability: options.durability ?? this.options.defaultDurability,
      deferred: deferred<WriteOutcome>(),
      expired: false,
    };
    this.writes.add(proposal);
    this.poke();
    const deadlineMs = options.deadlineMs ?? this.options.requestTimeoutMs;
    const outcome = armDeadline(this.clock, proposal.deferred, deadlineMs, 'write', options.signal, () => this.writes.expire(proposal));
    if (requestId) this.writes.track(requestId, outcome, () => this.applied);
    return outcome;
  }

  /**
   * Expiry is judged at a time ordered with the log. A LINEARIZABLE read uses this node's clock
   * when it asked for the read index: every entry after that index was stamped later, so a write
   * that completes after the read cannot find alive what the read reported expired. A STALE read
   * uses the state machine's clock (the last stamp applied), so it shows the state as of its
   * index and never one that a later entry contradicts.
   */
  async read<T>(query: (view: SessionQueries, appliedIndex: LogIndex, readTimeMs: number) => T, options: ReadOptions = {}): Promise<T> {
    this.ensureRunning();
    const consistency = options.consistency ?? 'linearizable';
    if (consistency === 'lease') {
      throw new NodeError('INVALID_ARGUMENT', 'consistency LEASE is not supported yet; use LINEARIZABLE or STALE');
    }
    const minIndex = (options.minIndex ?? 0) as LogIndex;
    if (consistency === 'stale' && this.applied >= minIndex) return query(this.stateMachine, this.applied, this.stateMachine.clockMs);
    if (this.reads.waiting + this.appliedWaiters.size >= this.options.pendingReadsMax) {
      throw new OverloadedError('pendingReadsMax', this.options.pendingReadsMax);
    }
    const applied = deferred<void>();
    let cancelled = false;
    let waiter: PendingRead | undefined;
    const proceed = (index: LogIndex): void => {
      if (cancelled) return;
      if (this.applied >= index) {
        applied.resolve();
        return;
      }
      waiter = { index, deferred: applied };
      this.appliedWaiters.push(waiter);
    };
    const done = armDeadline(this.clock, applied, options.deadlineMs ?? this.options.requestTimeoutMs, 'read', options.signal, () => {
      cancelled = true;
      if (waiter) this.appliedWaiters.remove(waiter);
    });
    let readTimeMs: number | undefined;
    if (consistency === 'linearizable') {
      this.reads.add({
        proceed: (readIndex, timeMs) => {
          readTimeMs = timeMs;
          proceed(readIndex > minIndex ? readIndex : minIndex);
        },
        fail: (error) => applied.reject(error),
      });
      this.poke();
    } else {
      proceed(minIndex);
    }
    await done;
    return query(this.stateMachine, this.applied, readTimeMs ?? this.stateMachine.clockMs);
  }

  status(): NodeStatus {
    const raft = this.core.status();
    return {
      raft,
      members: membersOf(raft, this.options.id),
      stateDigest: this.stateMachine.digest(),
      appliedIndex: this.applied,
      clusterId: this.options.clusterId,
    };
  }

  // ---------------------------------------------------------------- membership

  /**
   * Proposes one membership change (this node must lead) and resolves once it is applied here,
   * with the index of its entry. Refused with a clear error when it cannot be made: an unknown
   * id, a learner not caught up, a change already in flight, the last voter.
   */
  async changeMembership(change: MemberChange, options: CallOptions = {}): Promise<LogIndex> {
    this.ensureRunning();
    if (this.leader !== this.options.id) throw this.notLeader();
    const problem = memberChangeProblem(change, this.core.status(), this.options.promoteLagEntriesMax);
    if (problem) throw problem;
    const result = this.core.proposeConfChange(toConfChange(change));
    if (!result.ok) {
      if (result.reason === 'confChangePending') {
        throw new NodeError('FAILED_PRECONDITION', 'a membership change is already in flight (or this new leader has not committed its first entry); retry shortly');
      }
      throw this.proposeError(result.reason, result.leader);
    }
    this.logger.info({ change, index: result.index }, 'membership change proposed');
    this.poke();
    const wait = this.confWaits.get(result.index) ?? { term: undefined, calls: 0 };
    wait.calls++;
    this.confWaits.set(result.index, wait);
    try {
      await this.read(() => undefined, { consistency: 'stale', minIndex: result.index, ...deadlineOf(options) });
    } finally {
      if (--wait.calls === 0) this.confWaits.delete(result.index);
    }
    // The entry applied at the index must be this call's: another leader's entry there means the
    // change was dropped, even if the configuration shows the same change from a later entry
    // (not committed yet). A snapshot installed over the index leaves it unknown.
    if (wait.term !== result.term || !changeIsIn(change, this.core.configuration())) {
      throw new NodeError('OUTCOME_UNKNOWN', `the membership change at index ${result.index} was overtaken (leader change or a later change); check Status and retry`);
    }
    return result.index;
  }

  /** Hands leadership to voter `target` and resolves once it leads (as far as this node knows). */
  async transferLeadership(target: NodeId, options: CallOptions = {}): Promise<void> {
    this.ensureRunning();
    if (this.leader !== this.options.id) throw this.notLeader();
    if (target === this.options.id) return;
    if (!this.core.configuration().voters.includes(target)) {
      throw new NodeError('FAILED_PRECONDITION', `node ${target} is not a voter; only a voter can lead`);
    }
    this.transferTarget = target;
    this.poke();
    const timeoutMs = options.deadlineMs ?? 2 * this.options.electionTimeoutTicks * this.options.tickIntervalMs;
    const deadline = this.clock.nowMs() + timeoutMs;
    while (this.leader !== target) {
      if (this.clock.nowMs() >= deadline || options.signal?.aborted) {
        throw new TimeoutError('transfer-leader', timeoutMs);
      }
      await new Promise((resolve) => this.clock.setTimeout(() => resolve(undefined), TRANSFER_POLL_INTERVAL_MS));
      this.ensureRunning();
    }
  }

  /** A consistent copy of the applied state for AdminService/Backup (backup-source.ts). */
  openStateCopy(options: CallOptions = {}): Promise<StateCopy> {
    return this.backups.openStateCopy(options);
  }

  /**
   * Runs `f` in the loop between two turns. Every apply has been awaited there, so the state's
   * LevelDB copy is exactly the in-memory state: an iterator opened inside `f` reads the state at
   * `stateAppliedIndex`.
   */
  atRest<T>(f: (rest: RestingState) => T): Promise<T> {
    this.ensureRunning();
    const done = this.restingCalls.add(() =>
      f({
        stateAppliedIndex: this.stateMachine.appliedIndex,
        sessionCount: this.stateMachine.sessionCount,
        status: this.status(),
        entries: () => this.storage.state.entries(),
      }),
    );
    this.poke();
    return done;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Hands leadership to the most caught-up follower (bounded wait), then stops the loop. */
  async stop(options: { transferLeadership?: boolean; transferTimeoutMs?: number } = {}): Promise<void> {
    if (this.stopping) return;
    if (options.transferLeadership !== false && this.leader === this.options.id && this.core.configuration().voters.length > 1) {
      await this.transferLeadershipAway(options.transferTimeoutMs ?? 3_000);
    }
    this.stopping = true;
    this.clock.clearInterval(this.tickTimer);
    this.clock.clearInterval(this.sweepTimer);
    this.poke();
    await this.loopDone;
    this.failAll(new ShuttingDownError());
    this.transport.close();
    await this.storage.close();
  }

  private async transferLeadershipAway(timeoutMs: number): Promise<void> {
    const peers = this.core.status().peers.filter((p) => p.id !== this.options.id && p.voter);
    const target = peers.sort((a, b) => b.match - a.match)[0];
    if (!target) return;
    this.logger.info({ target: target.id }, 'transferring leadership before shutdown');
    this.transferTarget = target.id;
    this.poke();
    const deadline = this.clock.nowMs() + timeoutMs;
    while (this.clock.nowMs() < deadline && this.leader === this.options.id) {
      await new Promise((resolve) => this.clock.setTimeout(() => resolve(undefined), TRANSFER_POLL_INTERVAL_MS));
    }
    this.logger.info({ leader: this.leader }, this.leader === this.options.id ? 'transfer timed out' : 'leadership transferred');
  }

  // ---------------------------------------------------------------- the loop

  private async runLoop(): Promise<void> {
    while (!this.stopping) {
      this.restingCalls.runAll();
      this.feedCore();
      if (!this.core.hasReady()) {
        this.wake = deferred<void>();
        if (this.hasInput()) continue;
        await this.wake.promise;
        continue;
      }
      const ready = this.core.ready();
      await this.handleReady(ready);
      this.core.advance(ready);
      this.addressBook.sync(this.core.configuration());
      this.snapshots.maybeStart(this.applied, this.stateMachine.sessionCount, this.options.snapshotEntriesThreshold);
    }
  }

  private hasInput(): boolean {
    return (
      this.pendingTicks > 0 ||
      this.inbox.length > 0 ||
      this.writes.hasProposals ||
      this.reads.waiting > 0 ||
      this.unreachable.size > 0 ||
      this.snapshotStatus.length > 0 ||
      this.restingCalls.size > 0 ||
      this.transferTarget !== undefined
    );
  }

  private poke(): void {
    const wake = this.wake;
    if (wake) {
      this.wake = undefined;
      wake.resolve();
    }
  }

  /** Steps everything that arrived since the last turn into the core. */
  private feedCore(): void {
    // Messages before ticks: while this node was busy (a long fsync), its peers' heartbeats and
    // acks queued up; stepping the ticks first would time out a leader that was alive all along.
    for (const message of this.inbox.splice(0)) this.core.step(message);
    // Ticks that piled up while the loop was blocked are mostly dropped: a stalled node slows its
    // own clock rather than firing an election (or a check-quorum step-down) on stale evidence.
    const ticks = Math.min(this.pendingTicks, TICKS_PER_TURN_MAX);
    this.pendingTicks = 0;
    for (let i = 0; i < ticks; i++) this.core.tick();
    for (const peer of this.unreachable) this.core.reportUnreachable(peer);
    this.unreachable.clear();
    for (const { peer, ok } of this.snapshotStatus.splice(0)) this.core.reportSnapshot(peer, ok);
    if (this.transferTarget !== undefined) {
      this.core.transferLeadership(this.transferTarget);
      this.transferTarget = undefined;
    }
    this.snapshots.compactCore(this.core);
    this.proposeBatches(this.writes.takeProposals().filter((p) => !p.expired));
    const context = this.reads.takeBatch(this.clock.nowMs());
    if (context !== undefined) this.core.readIndex(context);
  }

  /**
   * The writes of one loop turn go into as few entries as the batch bounds allow: one log key,
   * one entry header, one append slot and one commit check for many commands, on every node.
   */
  private proposeBatches(proposals: readonly PendingProposal[]): void {
    for (let start = 0; start < proposals.length; ) {
      let end = start;
      let bytes = 0;
      while (end < proposals.length && end - start < PROPOSAL_BATCH_ITEMS_MAX) {
        const size = proposals[end]!.item.length;
        if (end > start && bytes + size > PROPOSAL_BATCH_BYTES_MAX) break;
        bytes += size;
        end++;
      }
      this.proposeBatch(proposals.slice(start, end));
      start = end;
    }
  }

  /**
   * Commands are stamped here, as they enter the leader's log, not when they arrived: so an entry
   * proposed after a read asked for its index carries a later time than that read (see read()).
   */
  private proposeBatch(batch: readonly PendingProposal[]): void {
    invariant(batch.length > 0, () => 'an empty batch of proposals');
    this.lastStampMs = Math.max(this.lastStampMs, this.clock.nowMs(), this.stateMachine.clockMs);
    const data = encodeBatch(this.lastStampMs, batch.map((p) => p.item));
    const result: ProposeResult = this.core.propose(data);
    for (const [slot, proposal] of batch.entries()) {
      if (result.ok) this.writes.proposed(proposal, result.index, result.term, slot);
      else proposal.deferred.reject(this.proposeError(result.reason, result.leader));
    }
  }

  private proposeError(reason: string, leader: NodeId): Error {
    switch (reason) {
      case 'notLeader':
        return this.notLeader(leader);
      case 'overloaded':
        return new OverloadedError('uncommittedEntriesMax', RAFT_DEFAULTS.uncommittedEntriesMax);
      case 'transferring':
        return new NotLeaderError(0 as NodeId, undefined);
      default:
        return new ProposalDroppedError(reason);
    }
  }

  private async handleReady(ready: Ready): Promise<void> {
    if (ready.softState) this.onSoftState(ready.softState.leader, ready.softState.role);
    // A leader replicates in parallel with its own fsync (Raft thesis §10.2.1): its appends and
    // heartbeats promise nothing about its disk, and it cannot count its own new entries toward
    // a commit before this persist finishes, because acks are stepped only in a later turn.
    // Everything else (votes, acks a follower sends) waits for the disk, as the Ready demands.
    let later = ready.messages;
    if (this.leader === this.options.id && ready.messages.length > 0) {
      this.timeHeartbeats(ready.messages);
      this.transport.send(coalesceAppends(ready.messages.filter(isReplication), RAFT_DEFAULTS.appendBatchBytesMax));
      later = ready.messages.filter((m) => !isReplication(m));
    }
    // A received snapshot is made durable in the order recovery relies on: the file, then the log
    // that points at it, then the state. A crash in between leaves the state behind the file, and
    // open() finishes the install from the file. The transport wrote the data to a staged file
    // and checked its digest before it delivered the message.
    const received = ready.snapshot ? this.receivedSnapshot(ready.snapshot.meta) : undefined;
    const bugs = this.bugs;
    const syncAckBeforeCommit = bugs.syncAckBeforeCommit === true;
    if (bugs.asyncAckBeforeFsync) this.writes.acknowledgeAsync(ready.entries, syncAckBeforeCommit);
    let installed: SnapshotInfo | undefined;
    if (ready.snapshot && received) installed = await received.commit(ready.snapshot.meta);
    if (installed && bugs.snapshotInstallOutOfOrder) await this.installSnapshot(installed);
    if (ready.committed.length > 0 && bugs.applyBeforePersist) await this.apply(ready.committed);
    if (ready.entries.length > 0 || ready.hardState || ready.snapshot) {
      const fsyncSeconds = this.stats.startTimer();
      await this.storage.log.save({
        ...(ready.hardState ? { hardState: ready.hardState } : {}),
        entries: ready.entries,
        ...(ready.snapshot ? { snapshot: ready.snapshot.meta } : {}),
      });
      this.stats.appendFsync.observe(fsyncSeconds());
    }
    if (installed && !bugs.snapshotInstallOutOfOrder) await this.installSnapshot(installed);
    if (!bugs.asyncAckBeforeFsync) this.writes.acknowledgeAsync(ready.entries, syncAckBeforeCommit);
    // Snapshot messages go out without data: the transport reads the stored file in chunks.
    if (later.length > 0) this.transport.send(later);
    if (ready.committed.length > 0 && !bugs.applyBeforePersist) await this.apply(ready.committed);
    for (const readState of ready.readStates) this.reads.release(readState.context, readState.index);
    for (const context of ready.droppedReads ?? []) this.reads.fail(context, this.notLeader());
  }

  private onSoftState(leader: NodeId, role: string): void {
    if (leader !== this.leader) {
      const raft = this.core.status();
      this.logger.info({ leader, role, term: raft.term }, 'leader changed');
      if (leader === this.options.id) this.leaderSettledIndex = raft.lastIndex;
      if (this.leader === this.options.id) {
        this.writes.leadershipLost(raft.commit, this.options.id);
        this.stats.leadershipLost();
      }
    }
    this.leader = leader;
  }

  /**
   * `applied` moves with the in-memory state, in the same synchronous step, so a read or a status
   * served while the state's LevelDB batch is written describes exactly the state it shows. The
   * entries are committed (durable on a quorum), so showing them before that batch lands is safe;
   * answers and waiters are released only after it.
   */
  private async apply(committed: readonly Entry[]): Promise<void> {
    for (const entry of committed) {
      const wait = entry.type === 'confChange' ? this.confWaits.get(entry.index) : undefined;
      if (wait !== undefined) wait.term = entry.term;
    }
    const normal = committed.filter((e) => e.type === 'normal');
    const last = committed[committed.length - 1]!;
    invariant(last.index > this.applied, () => `apply of entries up to ${last.index} at applied ${this.applied}`);
    const applySeconds = this.stats.startTimer();
    const { results, ops, changes } = this.stateMachine.applyEntries(normal);
    this.snapshots.countApplied(committed.length - normal.length + Math.max(results.length, normal.length));
    this.applied = last.index;
    this.changes?.applied(changes, last.index);
    await this.storage.state.commit(ops, last.index);
    this.stats.apply.observe(applySeconds());
    this.stats.proposalsCommitted += results.length;
    for (const change of changes) if (change.type === 'expired') this.stats.sessionsExpired++;
    this.writes.answerSync(committed, results, this.applied);
    this.releaseUpToApplied();
  }

  /** Everything that waited for `applied` to reach it, once it has (apply or snapshot install). */
  private releaseUpToApplied(): void {
    this.writes.appliedTo(this.applied);
    for (const read of this.appliedWaiters.takeUpTo(this.applied)) read.deferred.resolve();
  }

  /** The writer of a snapshot the core accepted: the transport staged it before delivering its message. */
  private receivedSnapshot(meta: SnapshotMeta): SnapshotWriter {
    const staged = this.storage.snapshots.takeStaged(meta);
    invariant(staged !== undefined, () => `snapshot ${meta.index} at term ${meta.term} accepted, but the transport staged no file for it`);
    return staged;
  }

  /** Replaces the state machine and its LevelDB copy with the snapshot stored on disk (`info`). */
  private async installSnapshot(info: SnapshotInfo): Promise<void> {
    const meta = info.meta;
    this.logger.info({ index: meta.index, term: meta.term, bytes: info.bytes }, 'installing snapshot from leader');
    const startedAtMs = this.clock.nowMs();
    const loadSeconds = this.stats.startTimer();
    invariant(meta.index > this.applied, () => `snapshot ${meta.index} installed at applied ${this.applied}`);
    const stateMachine = newStateMachine(this.options);
    await installSnapshotFile(this.storage, info, stateMachine);
    this.stateMachine = stateMachine;
    this.applied = meta.index;
    this.changes?.reset(meta.index);
    this.snapshots.installed(meta);
    this.stats.snapshotInstalled(info.bytes, loadSeconds());
    this.logger.info({ index: meta.index, sessions: stateMachine.sessionCount, loadMs: Math.round(this.clock.nowMs() - startedAtMs) }, 'snapshot installed');
    this.writes.snapshotInstalled(this.applied);
    this.releaseUpToApplied();
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Peer round trips for NodeStats: a leader's heartbeats as it hands them to the transport, to
   * their responses as the transport delivers them (start()), so the loop's own waits are not in it.
   */
  private timeHeartbeats(messages: readonly Message[]): void {
    for (const m of messages) if (m.type === 'heartbeat') this.stats.heartbeatSent(m.to);
  }

  private sweepExpired(): void {
    if (this.leader !== this.options.id || this.stopping) return;
    const due = this.stateMachine.dueForExpiry(this.clock.nowMs(), this.options.expirySweepBatchMax);
    if (due.length === 0) return;
    this.write({ type: 'expire', sessionIds: due }, { durability: 'sync' }).then(
      (outcome) => this.logger.info({ expired: due.length, index: outcome.index }, 'expired idle sessions'),
      (error: unknown) => this.logger.warn({ err: error }, 'expiry sweep failed; will retry next interval'),
    );
  }

  private notLeader(leader: NodeId = this.leader): NotLeaderError {
    const known = leader !== this.options.id ? leader : (0 as NodeId);
    return new NotLeaderError(known, known ? this.addressBook.addressOf(known) : undefined);
  }

  private ensureRunning(): void {
    if (this.failure) throw new NodeError('SHUTTING_DOWN', `node failed: ${this.failure.message}`);
    if (this.stopping) throw new ShuttingDownError();
  }

  private failAll(error: Error): void {
    this.writes.failAll(error);
    this.reads.failAll(error);
    for (const r of this.appliedWaiters.takeAll()) r.deferred.reject(error);
    this.restingCalls.failAll(error);
  }

}

function newStateMachine(options: NodeOptions): SessionStateMachine {
  return new SessionStateMachine({ defaultTtlMs: options.defaultTtlMs, dataBytesMax: options.dataBytesMax });
}

function isReplication(message: Message): boolean {
  return message.type === 'append' || message.type === 'heartbeat';
}

function deadlineOf(options: CallOptions): CallOptions {
  return {
    ...(options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}
