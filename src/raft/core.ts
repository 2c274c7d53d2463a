/**
 * RaftCore: the consensus algorithm as a pure, deterministic state machine (after etcd-io/raft).
 * Inputs: tick(), step(message), propose(), proposeConfChange(), readIndex(),
 * transferLeadership(), compact(), reportUnreachable(), reportSnapshot(). Outputs: a Ready
 * (see types.ts for the order in which the runtime must handle it), acknowledged by advance().
 *
 * Roles are swapped step and tick functions (stepLeader / stepCandidate / stepFollower,
 * tickHeartbeat / tickElection), set by the become* transitions. Time is ticks.
 */
import type {
  PeerStatus,
  ProposeResult,
  RaftInitialState,
  RaftNode,
  RaftOptions,
  RaftStatus,
} from './api.js';
import { invariant } from './assert.js';
import {
  applyConfChange,
  confChangeProblem,
  decodeConfChange,
  encodeConfChange,
  isMember,
  normalizeConfState,
  replayConfChanges,
} from './confchange.js';
import { RaftLog, entryBytes } from './log.js';
import { resolveRaftOptions, type ResolvedRaftOptions } from './options.js';
import { committedIndex, voteResult } from './quorum.js';
import { ReadOnlyQueue, contextKey } from './readonly.js';
import { Progress } from './tracker.js';
import {
  NO_NODE,
  type ConfChange,
  type ConfState,
  type Entry,
  type EntryType,
  type HardState,
  type LogIndex,
  type Message,
  type NodeId,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
  type SnapshotMeta,
  type SoftState,
  type Term,
} from './types.js';

/** Messages queued for the next Ready; beyond it new messages are dropped (Raft tolerates loss). */
export const OUTBOX_MESSAGES_MAX = 100_000;
/**
 * Election timeouts a follower may stay in snapshot state without the snapshot being
 * acknowledged or reported; then the leader probes again (the snapshot message may be lost).
 */
export const SNAPSHOT_WAIT_ELECTION_TIMEOUTS_MAX = 5;
/** Committed entries handed out in one Ready; the rest follow in the next ones. */
export const COMMITTED_ENTRIES_PER_READY_MAX = 8_192;

type CampaignKind = 'preElection' | 'election' | 'transfer';
type StepFn = (m: Message) => void;

const EMPTY = new Uint8Array(0);

interface PendingRead {
  readonly from: NodeId;
  readonly context: Uint8Array;
}

/** Follower: a read-index request sent to the leader and not answered yet. */
interface ForwardedRead {
  readonly context: Uint8Array;
  waitedTicks: number;
}

export class RaftCore implements RaftNode {
  private readonly options: ResolvedRaftOptions;
  private readonly id: NodeId;
  private readonly log: RaftLog;

  // Persistent state (HardState); commit lives in the log.
  private term: Term;
  private vote: NodeId;

  private role: Role = 'follower';
  private leader: NodeId = NO_NODE;
  /** Configuration in effect: the latest conf entry in the log, committed or not. */
  private conf: ConfState;
  /** Index of the conf entry that produced `conf` (the snapshot index if none in the log). */
  private confIndex: LogIndex;

  /** Leader only: one Progress per member (the leader's own while it is a member). */
  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  private electionElapsedTicks = 0;
  private heartbeatElapsedTicks = 0;
  private randomizedElectionTimeoutTicks = 0;
  private transferee: NodeId = NO_NODE;

  /** Leader: reads waiting for a heartbeat quorum. */
  private readonly readOnly = new ReadOnlyQueue();
  /** Leader: reads waiting for the first commit of the leader's term, by context key. */
  private pendingReads = new Map<string, PendingRead>();
  /** Follower: reads forwarded to `leader`, by context key, waiting for its answer. */
  private readonly forwardedReads = new Map<string, ForwardedRead>();

  private stepFn: StepFn;
  private tickFn: () => void;

  // Ready bookkeeping.
  private outbox: Message[] = [];
  private readStates: ReadState[] = [];
  private droppedReads: Uint8Array[] = [];
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private outstanding: Ready | undefined;
  /** Messages dropped because the outbox was full (OUTBOX_MESSAGES_MAX). */
  droppedMessageCount = 0;

  constructor(options: RaftOptions, initial: RaftInitialState) {
    this.options = resolveRaftOptions(options);
    this.id = this.options.id;
    const bootstrap = normalizeConfState(initial.bootstrapConfState);
    const snapshot: SnapshotMeta = initial.snapshot
      ? { ...initial.snapshot, confState: normalizeConfState(initial.snapshot.confState) }
      : { index: 0 as LogIndex, term: 0 as Term, confState: bootstrap };
    this.log = new RaftLog(snapshot, initial.entries, initial.hardState.commit, initial.applied);
    const lastTerm = this.log.lastTerm();
    invariant(
      initial.hardState.term >= lastTerm,
      () => `restart term ${initial.hardState.term} is below the last log term ${lastTerm}`,
    );
    this.term = initial.hardState.term;
    this.vote = initial.hardState.vote;
    this.conf = snapshot.confState;
    this.confIndex = snapshot.index;
    this.recomputeConf();
    this.prevHardState = this.hardState();
    this.prevSoftState = { leader: NO_NODE, role: 'follower' };
    this.stepFn = this.stepFollower;
    this.tickFn = this.tickElection;
    this.resetRandomizedElectionTimeout();
  }

  // ------------------------------------------------------------------ public API

  tick(): void {
    this.tickFn();
  }

  step(m: Message): void {
    invariant(m.to === this.id, () => `node ${this.id} stepped a message addressed to ${m.to} (${m.type})`);
    invariant(m.from !== this.id, () => `node ${this.id} stepped a message from itself (${m.type})`);
    if (!this.stepTerm(m)) return;
    switch (m.type) {
      case 'vote':
      case 'preVote':
        this.handleVoteRequest(m);
        return;
      case 'readIndex':
        if (this.role === 'leader') this.handleReadRequest(m.from, m.context ?? EMPTY);
        else this.rejectRead(m.from, m.context ?? EMPTY);
        return;
      case 'readIndexResponse':
        this.handleReadIndexResponse(m);
        return;
      default:
        this.stepFn(m);
    }
  }

  propose(data: Uint8Array): ProposeResult {
    if (data.byteLength === 0) {
      throw new RangeError('propose() needs non-empty data: an empty normal entry is a leader no-op');
    }
    const refusal = this.proposalRefusal();
    if (refusal) return refusal;
    const entry = this.appendEntry('normal', data);
    this.bcastAppend();
    return { ok: true, index: entry.index, term: entry.term };
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    const refusal = this.proposalRefusal();
    if (refusal) return refusal;
    const problem = confChangeProblem(this.conf, change);
    if (problem !== undefined) throw new RangeError(problem);
    if (!this.options.plantedBugs.unsafeMembershipChange) {
      const pending = this.confIndex > this.log.committed || !this.committedEntryInCurrentTerm();
      if (pending) return { ok: false, reason: 'confChangePending', leader: this.leader };
    }
    const entry = this.appendEntry('confChange', encodeConfChange(change));
    this.bcastAppend();
    return { ok: true, index: entry.index, term: entry.term };
  }

  readIndex(context: Uint8Array): void {
    if (this.readStates.length >= this.options.pendingReadsMax) {
      // Answers the runtime has not collected yet count against the same limit.
      this.droppedReads.push(context);
      return;
    }
    if (this.role === 'leader') {
      this.handleReadRequest(this.id, context);
      return;
    }
    const duplicate = this.forwardedReads.has(contextKey(context));
    if (this.leader === NO_NODE || duplicate || this.forwardedReads.size >= this.options.pendingReadsMax) {
      this.droppedReads.push(context);
      return;
    }
    this.forwardedReads.set(contextKey(context), { context, waitedTicks: 0 });
    this.send({ type: 'readIndex', to: this.leader, term: 0 as Term, context });
  }

  transferLeadership(to: NodeId): void {
    if (this.role === 'leader') {
      this.handleTransferLeader(to);
    } else if (this.leader !== NO_NODE) {
      // `index` carries the transferee: `from` must stay the sender on the wire.
      this.send({ type: 'transferLeader', to: this.leader, term: this.term, index: to as number as LogIndex });
    }
  }

  compact(index: LogIndex): SnapshotMeta {
    const current = this.log.snapshot;
    if (index === current.index) return current;
    if (index < current.index) {
      throw new RangeError(`compact(${index}) is below the current snapshot index ${current.index}`);
    }
    invariant(index <= this.log.applied, () => `compact(${index}) beyond the applied index ${this.log.applied}`);
    const meta: SnapshotMeta = {
      index,
      term: this.log.term(index) as Term,
      confState: replayConfChanges(current.confState, this.log.slice(this.log.firstIndex(), index)),
    };
    this.log.compact(meta);
    return meta;
  }

  reportUnreachable(peer: NodeId): void {
    const pr = this.role === 'leader' ? this.progress.get(peer) : undefined;
    // Appends in flight were probably lost: fall back to probing.
    if (pr?.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    const pr = this.role === 'leader' ? this.progress.get(peer) : undefined;
    if (pr?.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0 as LogIndex;
    // Wait for the follower's append response (or a heartbeat's) before sending more.
    pr.becomeProbe();
    pr.probeSent = true;
  }

  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    return (
      this.softStateChanged() ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      this.log.hasUnstableEntries() ||
      this.log.pendingSnapshot !== undefined ||
      this.outbox.length > 0 ||
      this.log.hasNextCommittedEntries() ||
      this.readStates.length > 0 ||
      this.droppedReads.length > 0
    );
  }

  ready(): Ready {
    invariant(this.outstanding === undefined, () => 'ready() called again before advance() of the previous Ready');
    const hardState = this.hardState();
    invariant(hardState.term >= this.prevHardState.term, () => `term went back from ${this.prevHardState.term} to ${hardState.term}`);
    invariant(hardState.commit >= this.prevHardState.commit, () => `commit went back from ${this.prevHardState.commit} to ${hardState.commit}`);
    const committed = this.log.nextCommittedEntries(COMMITTED_ENTRIES_PER_READY_MAX);
    const lastCommitted = committed.at(-1);
    if (lastCommitted) this.log.applyingTo(lastCommitted.index);
    const softState = this.softState();
    const ready: Ready = {
      ...(this.softStateChanged() ? { softState } : {}),
      ...(sameHardState(hardState, this.prevHardState) ? {} : { hardState: this.hardStateToPersist(hardState) }),
      entries: this.log.unstableEntries(),
      ...(this.log.pendingSnapshot ? { snapshot: this.log.pendingSnapshot } : {}),
      messages: this.outbox,
      committed,
      readStates: this.readStates,
      ...(this.droppedReads.length > 0 ? { droppedReads: this.droppedReads } : {}),
    };
    this.outbox = [];
    this.readStates = [];
    this.droppedReads = [];
    this.prevHardState = hardState;
    this.prevSoftState = softState;
    this.outstanding = ready;
    return ready;
  }

  advance(ready: Ready): void {
    invariant(ready === this.outstanding, () => 'advance() called with a Ready that is not the outstanding one');
    this.outstanding = undefined;
    if (ready.snapshot) {
      if (this.log.pendingSnapshot === ready.snapshot) this.log.pendingSnapshot = undefined;
      this.log.appliedTo(ready.snapshot.meta.index);
    }
    const lastEntry = ready.entries.at(-1);
    if (lastEntry) this.log.stableTo(lastEntry.index, lastEntry.term);
    const lastCommitted = ready.committed.at(-1);
    if (lastCommitted) this.log.appliedTo(lastCommitted.index);
  }

  /** The configuration in effect (the latest conf entry in the log, committed or not). Cheap. */
  configuration(): ConfState {
    return this.conf;
  }

  status(): RaftStatus {
    const peers: PeerStatus[] = [];
    for (const pr of [...this.progress.values()].sort((a, b) => a.id - b.id)) {
      peers.push({
        id: pr.id,
        voter: this.conf.voters.includes(pr.id),
        match: pr.match,
        next: pr.next,
        state: pr.state,
        recentActive: pr.recentActive,
      });
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      confState: this.conf,
      peers,
      transferee: this.transferee,
    };
  }

  // ------------------------------------------------------------------ terms and votes

  /** The term rules of every message (etcd's Step); false when the message is dealt with. */
  private stepTerm(m: Message): boolean {
    if (m.term === 0) return true; // readIndex forwards and their rejections carry no term
    if (m.term > this.term) return this.stepHigherTerm(m);
    if (m.term < this.term) {
      this.stepLowerTerm(m);
      return false;
    }
    return true;
  }

  private stepHigherTerm(m: Message): boolean {
    if ((m.type === 'vote' || m.type === 'preVote') && !m.transfer && this.inLease()) {
      // Leader stickiness: we heard from a live leader within the election timeout, so this
      // candidate is probably disrupting a healthy cluster (a removed or partitioned node).
      return false;
    }
    if (m.type === 'preVote') return true; // never change our term for a pre-vote
    // A granted pre-vote carries the future term we campaign for; a rejection carries the
    // rejecter's real term, which we must adopt.
    if (m.type === 'preVoteResponse' && !m.reject) return true;
    const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
    // A vote request moves our term but restarts our election timer only if we grant it
    // (handleVoteRequest): see keepsElectionTimer.
    const timer = this.keepsElectionTimer(m) ? 'keep' : 'restart';
    this.becomeFollower(m.term, fromLeader ? m.from : NO_NODE, timer);
    return true;
  }

  /**
   * Raft's Figure 2 restarts the election timer on campaigning, on granting a vote and on hearing
   * from the leader, not on merely learning a higher term nor on losing an election. etcd
   * restarts it on every role change. With pre-vote off, that lets a candidate that cannot win
   * (its log is behind) push back the timer of the voter that could, every round: its higher-term
   * request restarts that voter's timer, and each of its lost elections restarts its own timer
   * later than its rival's. The one that can win then rarely times out first, and elections took
   * more than 20 election timeouts (the simulation's finding 6). So a higher-term `vote` keeps a
   * non-leader's timer (elapsed ticks and randomized timeout) running, granting it zeroes the
   * elapsed ticks (handleVoteRequest), and a candidate that lost keeps the timer of its campaign
   * (poll). A leader's timer is its check-quorum clock, so a leader stepping down starts afresh.
   * Only timers change: terms, votes and logs do not, so safety is untouched.
   */
  private keepsElectionTimer(m: Message): boolean {
    return m.type === 'vote' && this.role !== 'leader';
  }

  private stepLowerTerm(m: Message): void {
    if (m.type === 'heartbeat' || m.type === 'append') {
      // We may have raised our term in a partition while the others ignored our votes (leader
      // stickiness): tell this leader our term so that it steps down and a new election can
      // include us; otherwise we would stay cut off for good.
      this.send({ type: 'appendResponse', to: m.from, term: this.term, index: 0 as LogIndex });
    } else if (m.type === 'preVote' || m.type === 'vote') {
      // A (pre-)candidate with a lower term must learn ours, or it could campaign forever: with
      // pre-vote off, candidates that fell behind otherwise livelock (the simulation's finding 3).
      const type = m.type === 'vote' ? 'voteResponse' : 'preVoteResponse';
      this.send({ type, to: m.from, term: this.term, reject: true });
    }
  }

  /**
   * Leader stickiness (Raft dissertation §4.2.3): within an election timeout of hearing from a
   * leader (or while leading), (pre)votes are ignored. Unlike etcd this holds with check-quorum
   * off too, so that a removed server cannot depose a healthy leader in any configuration.
   */
  private inLease(): boolean {
    return this.leader !== NO_NODE && this.electionElapsedTicks < this.options.electionTimeoutTicks;
  }

  private handleVoteRequest(m: Message): void {
    const responseType = m.type === 'vote' ? 'voteResponse' : 'preVoteResponse';
    const canVote =
      this.vote === m.from ||
      (this.vote === NO_NODE && this.leader === NO_NODE) ||
      (m.type === 'preVote' && m.term > this.term);
    const upToDate = this.log.isUpToDate(m.index ?? (0 as LogIndex), m.logTerm ?? (0 as Term));
    if (!canVote || !upToDate) {
      this.send({ type: responseType, to: m.from, term: this.term, reject: true });
      if (m.type === 'vote' && this.vote === this.id && this.leader === NO_NODE && upToDate) this.yieldToBetterCandidate(m);
      return;
    }
    this.send({ type: responseType, to: m.from, term: m.term, reject: false });
    if (m.type === 'vote') {
      this.electionElapsedTicks = 0;
      this.setVote(m.from);
    }
  }

  /**
   * We voted for ourselves in this term and a candidate whose log is strictly more up to date
   * asks for our vote too: we must refuse, but restart our election timer as granting (or a
   * higher-term request) would. Every voter that could elect us would elect it as well, so
   * waiting costs us nothing; not waiting can livelock with pre-vote off (the simulation's
   * finding 3, seed 191): a candidate that can never win (its configuration, stale, names a
   * voter whose log is ahead) and never sends to the other candidate times out first, takes
   * the new term with its self-vote, and the other one's requests always arrive at that same
   * term. Nothing then resets the first one's timer, so which of the two times out first is a
   * random walk with no pull back: it may take arbitrarily many rounds. Only a timer changes;
   * term, vote and log do not, so safety is untouched. A pre-vote never gets here (vote only),
   * nor a node that knows a leader of this term (a leader's timer is its check-quorum and
   * lease clock, and must not be pushed back by anyone's request).
   */
  private yieldToBetterCandidate(m: Message): void {
    invariant(m.term === this.term, () => `vote request of term ${m.term} handled at term ${this.term}`);
    // The caller checked that its log is at least as up to date as ours: strictly means not equal.
    const sameLastEntry = m.logTerm === this.log.lastTerm() && m.index === this.log.lastIndex();
    if (!sameLastEntry) this.electionElapsedTicks = 0;
  }

  private setVote(id: NodeId): void {
    invariant(
      this.vote === NO_NODE || this.vote === id,
      () => `node ${this.id} votes for ${id} in term ${this.term} after voting for ${this.vote}`,
    );
    this.vote = id;
  }

  private setTerm(term: Term): void {
    invariant(term >= this.term, () => `term goes back from ${this.term} to ${term}`);
    if (term !== this.term) {
      this.term = term;
      this.vote = NO_NODE;
    }
  }

  // ------------------------------------------------------------------ role transitions

  private reset(term: Term, electionTimer: 'restart' | 'keep' = 'restart'): void {
    this.setTerm(term);
    this.setLeader(NO_NODE);
    if (electionTimer === 'restart') {
      this.electionElapsedTicks = 0;
      this.resetRandomizedElectionTimeout();
    }
    this.heartbeatElapsedTicks = 0;
    this.transferee = NO_NODE;
    this.votes.clear();
    this.progress.clear();
    this.dropLeaderReads();
  }

  private becomeFollower(term: Term, leader: NodeId, electionTimer: 'restart' | 'keep' = 'restart'): void {
    this.reset(term, electionTimer);
    this.stepFn = this.stepFollower;
    this.tickFn = this.tickElection;
    this.role = 'follower';
    this.setLeader(leader);
  }

  private becomePreCandidate(): void {
    invariant(this.role !== 'leader', () => `leader ${this.id} cannot become a pre-candidate in term ${this.term}`);
    // Neither the term nor the vote changes: a pre-election is only a poll.
    this.stepFn = this.stepCandidate;
    this.tickFn = this.tickElection;
    this.votes.clear();
    this.setLeader(NO_NODE);
    this.role = 'preCandidate';
  }

  private becomeCandidate(): void {
    invariant(this.role !== 'leader', () => `leader ${this.id} cannot become a candidate in term ${this.term}`);
    this.reset((this.term + 1) as Term);
    this.stepFn = this.stepCandidate;
    this.tickFn = this.tickElection;
    this.setVote(this.id);
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    invariant(this.role === 'candidate', () => `node ${this.id} becomes leader from role ${this.role}`);
    this.reset(this.term);
    this.stepFn = this.stepLeader;
    this.tickFn = this.tickHeartbeat;
    this.role = 'leader';
    this.setLeader(this.id);
    this.syncProgress();
    const self = this.progress.get(this.id);
    if (self) {
      self.recentActive = true;
      self.maybeUpdate(this.log.lastIndex());
      self.becomeReplicate();
    }
    // The no-op lets the leader commit (and so learn) everything before its term (§5.4.2, §6.4).
    if (!this.options.plantedBugs.noNoopAtTermStart) this.appendEntry('normal', EMPTY);
  }

  private setLeader(leader: NodeId): void {
    if (leader === this.leader) return;
    this.leader = leader;
    // Reads forwarded to the previous leader will not be answered by the new one.
    for (const read of this.forwardedReads.values()) this.droppedReads.push(read.context);
    this.forwardedReads.clear();
  }

  private resetRandomizedElectionTimeout(): void {
    const r = this.options.random();
    invariant(r >= 0 && r < 1, () => `options.random() returned ${r}, outside [0, 1)`);
    const t = this.options.electionTimeoutTicks;
    this.randomizedElectionTimeoutTicks = t + Math.floor(r * t);
  }

  /** Voters may campaign; learners and removed nodes never disrupt the cluster. */
  private promotable(): boolean {
    return this.conf.voters.includes(this.id) && this.log.pendingSnapshot === undefined;
  }

  // ------------------------------------------------------------------ ticks

  private tickElection(): void {
    this.tickForwardedReads();
    this.electionElapsedTicks++;
    if (this.promotable() && this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      this.campaign(this.options.preVote ? 'preElection' : 'election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsedTicks++;
    this.electionElapsedTicks++;
    this.tickSnapshotWaits();
    if (this.electionElapsedTicks >= this.options.electionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      if (this.options.checkQuorum && !this.checkQuorumActive()) {
        this.becomeFollower(this.term, NO_NODE);
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.transferee = NO_NODE;
    }
    if (this.heartbeatElapsedTicks >= this.options.heartbeatIntervalTicks) {
      this.heartbeatElapsedTicks = 0;
      this.bcastHeartbeat();
    }
  }

  /**
   * A forwarded read not answered within readIndexRetryTicks is sent again: the request or its
   * answer may have been lost (a link cut one way drops them), and the leader answers a duplicate
   * of a request it still holds only once. So a read is answered soon after a link heals.
   */
  private tickForwardedReads(): void {
    if (this.forwardedReads.size === 0) return;
    invariant(this.leader !== NO_NODE, () => `node ${this.id} holds ${this.forwardedReads.size} forwarded reads and knows no leader`);
    for (const read of this.forwardedReads.values()) {
      read.waitedTicks++;
      if (read.waitedTicks % this.options.readIndexRetryTicks !== 0) continue;
      this.send({ type: 'readIndex', to: this.leader, term: 0 as Term, context: read.context });
    }
  }

  private tickSnapshotWaits(): void {
    const waitTicksMax = SNAPSHOT_WAIT_ELECTION_TIMEOUTS_MAX * this.options.electionTimeoutTicks;
    for (const pr of this.progress.values()) {
      if (pr.state !== 'snapshot') continue;
      pr.snapshotWaitTicks++;
      if (pr.snapshotWaitTicks >= waitTicksMax) {
        pr.pendingSnapshot = 0 as LogIndex;
        pr.becomeProbe();
      }
    }
  }

  /** Did a quorum of voters answer since the last check? Resets the marks for the next round. */
  private checkQuorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const pr of this.progress.values()) {
      if (pr.id === this.id || pr.recentActive) active.set(pr.id, true);
      if (pr.id !== this.id) pr.recentActive = false;
    }
    return voteResult(this.conf.voters, active) === 'won';
  }

  // ------------------------------------------------------------------ elections

  private campaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    if (kind === 'preElection') this.becomePreCandidate();
    else this.becomeCandidate();
    const voteTerm = (kind === 'preElection' ? this.term + 1 : this.term) as Term;
    if (this.poll(this.id, true)) return;
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send({
        type: kind === 'preElection' ? 'preVote' : 'vote',
        to: id,
        term: voteTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        ...(kind === 'transfer' ? { transfer: true } : {}),
      });
    }
  }

  /** Records a vote; acts on the outcome. Returns true when the election is decided. */
  private poll(from: NodeId, granted: boolean): boolean {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    const result = voteResult(this.conf.voters, this.votes);
    if (result === 'pending') return false;
    if (result === 'lost') {
      // A candidate's timer keeps running from its campaign (see keepsElectionTimer); a
      // pre-candidate's restarts, as in etcd (a pre-vote moves no term, so it disrupts no one).
      this.becomeFollower(this.term, NO_NODE, this.role === 'candidate' ? 'keep' : 'restart');
    } else if (this.role === 'preCandidate') {
      this.campaign('election');
    } else {
      this.becomeLeader();
      this.bcastAppend();
    }
    return true;
  }

  // ------------------------------------------------------------------ step functions

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'appendResponse':
        this.handleAppendResponse(m);
        return;
      case 'heartbeatResponse':
        this.handleHeartbeatResponse(m);
        return;
      case 'transferLeader':
        this.handleTransferLeader((m.index ?? 0) as number as NodeId);
        return;
      default:
      // Another leader in our term cannot exist; stale responses are ignored.
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Someone won this term.
        this.becomeFollower(this.term, m.from);
        this.stepFollower(m);
        return;
      case 'preVoteResponse':
        if (this.role === 'preCandidate') this.poll(m.from, !m.reject);
        return;
      case 'voteResponse':
        if (this.role === 'candidate') this.poll(m.from, !m.reject);
        return;
      default:
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.electionElapsedTicks = 0;
        this.setLeader(m.from);
        if (m.type === 'append') this.handleAppend(m);
        else if (m.type === 'heartbeat') this.handleHeartbeat(m);
        else this.handleSnapshot(m);
        return;
      case 'transferLeader':
        if (this.leader !== NO_NODE) {
          this.send({ type: 'transferLeader', to: this.leader, term: this.term, index: m.index ?? (0 as LogIndex) });
        }
        return;
      case 'timeoutNow':
        // Leadership transfer: campaign at once, skipping pre-vote, overriding stickiness.
        this.campaign('transfer');
        return;
      default:
    }
  }

  // ------------------------------------------------------------------ follower side

  private handleAppend(m: Message): void {
    const prevIndex = m.index ?? (0 as LogIndex);
    const prevTerm = m.logTerm ?? (0 as Term);
    const entries = m.entries ?? [];
    if (prevIndex < this.log.committed) {
      this.send({ type: 'appendResponse', to: m.from, term: this.term, index: this.log.committed });
      return;
    }
    if (!this.log.matchTerm(prevIndex, prevTerm)) {
      const rejectHint = this.log.rejectHint(prevIndex);
      this.send({ type: 'appendResponse', to: m.from, term: this.term, index: prevIndex, reject: true, rejectHint });
      return;
    }
    entries.forEach((entry, i) =>
      invariant(entry.index === prevIndex + 1 + i, () => `append after ${prevIndex} has entry ${entry.index} at position ${i}`),
    );
    const lastNew = (prevIndex + entries.length) as LogIndex;
    const conflict = this.log.findConflict(entries);
    if (conflict !== 0) this.appendToLog(entries.slice(conflict - prevIndex - 1));
    this.log.commitTo(Math.min(m.commit ?? 0, lastNew) as LogIndex);
    this.send({ type: 'appendResponse', to: m.from, term: this.term, index: lastNew });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit ?? (0 as LogIndex));
    this.send({
      type: 'heartbeatResponse',
      to: m.from,
      term: this.term,
      ...(m.context !== undefined ? { context: m.context } : {}),
    });
  }

  private handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    if (snapshot === undefined) return;
    const index = this.restore(snapshot) ? this.log.lastIndex() : this.log.committed;
    this.send({ type: 'appendResponse', to: m.from, term: this.term, index });
  }

  /** Installs a leader's snapshot if it is news to us; true if the log was replaced. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.meta;
    if (index <= this.log.committed) return false;
    // Not checked: that we are in the snapshot's configuration. A member added after the
    // snapshot index is not, and learns of its own addition from the entries that follow.
    if (this.log.matchTerm(index, term)) {
      // We have the entries already; the snapshot only tells us they are committed.
      this.log.commitTo(index);
      return false;
    }
    const meta: SnapshotMeta = { index, term, confState: normalizeConfState(confState) };
    this.log.restore({ meta, data: snapshot.data });
    this.conf = meta.confState;
    this.confIndex = index;
    return true;
  }

  private handleReadIndexResponse(m: Message): void {
    const context = m.context ?? EMPTY;
    const key = contextKey(context);
    if (!this.forwardedReads.has(key)) return;
    this.forwardedReads.delete(key);
    if (m.reject) this.droppedReads.push(context);
    else this.readStates.push({ index: m.index ?? (0 as LogIndex), context });
  }

  // ------------------------------------------------------------------ log and configuration

  /** Appends to the log (replacing a conflicting suffix) and updates the configuration. */
  private appendToLog(entries: readonly Entry[]): void {
    const cutFrom = this.log.append(entries);
    if (cutFrom !== 0 && cutFrom <= this.confIndex) {
      // The conf entry in effect was truncated: revert to the one before (or the snapshot's).
      this.recomputeConf();
      return;
    }
    for (const entry of entries) {
      if (entry.type === 'confChange') this.setConf(applyConfChange(this.conf, decodeConfChange(entry.data)), entry.index);
    }
  }

  private recomputeConf(): void {
    const snapshot = this.log.snapshot;
    let conf = snapshot.confState;
    let confIndex = snapshot.index;
    for (const entry of this.log.slice(this.log.firstIndex(), this.log.lastIndex())) {
      if (entry.type !== 'confChange') continue;
      conf = applyConfChange(conf, decodeConfChange(entry.data));
      confIndex = entry.index;
    }
    this.setConf(conf, confIndex);
  }

  private setConf(conf: ConfState, index: LogIndex): void {
    this.conf = conf;
    this.confIndex = index;
    if (this.role !== 'leader') return;
    this.syncProgress();
    if (this.transferee !== NO_NODE && !conf.voters.includes(this.transferee)) this.transferee = NO_NODE;
  }

  /** Leader: one Progress per member of the configuration in effect. */
  private syncProgress(): void {
    const { inflightMessagesMax, inflightBytesMax } = this.options;
    const next = (this.log.lastIndex() + 1) as LogIndex;
    for (const id of [...this.conf.voters, ...this.conf.learners]) {
      if (this.progress.has(id)) continue;
      // A new member is presumed active so that it can be sent a snapshot at once.
      const pr = new Progress(id, next, inflightMessagesMax, inflightBytesMax, true);
      if (id === this.id) pr.maybeUpdate(this.log.lastIndex());
      this.progress.set(id, pr);
    }
    for (const id of [...this.progress.keys()]) {
      if (!isMember(this.conf, id)) this.progress.delete(id);
    }
  }

  // ------------------------------------------------------------------ leader: proposals

  private proposalRefusal(): ProposeResult | undefined {
    if (this.role !== 'leader') return { ok: false, reason: 'notLeader', leader: this.leader };
    // A leader removed from the configuration only finishes committing its removal.
    if (!isMember(this.conf, this.id)) return { ok: false, reason: 'notLeader', leader: NO_NODE };
    if (this.transferee !== NO_NODE) return { ok: false, reason: 'transferring', leader: this.leader };
    if (this.log.lastIndex() - this.log.committed >= this.options.uncommittedEntriesMax) {
      return { ok: false, reason: 'overloaded', leader: this.leader };
    }
    return undefined;
  }

  private appendEntry(type: EntryType, data: Uint8Array): Entry {
    const entry: Entry = { term: this.term, index: (this.log.lastIndex() + 1) as LogIndex, type, data };
    this.appendToLog([entry]);
    this.progress.get(this.id)?.maybeUpdate(entry.index);
    this.maybeCommit();
    return entry;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Advances commit to what a quorum of voters holds; only entries of our term count (§5.4.2). */
  private maybeCommit(): boolean {
    const mci = committedIndex(this.conf.voters, (id) => this.progress.get(id)?.match ?? (0 as LogIndex));
    if (mci <= this.log.committed) return false;
    if (!this.options.plantedBugs.commitPreviousTermByCount && this.log.term(mci) !== this.term) return false;
    const hadOwnTermCommit = this.committedEntryInCurrentTerm();
    this.log.commitTo(mci);
    if (!hadOwnTermCommit && this.committedEntryInCurrentTerm()) this.releasePendingReads();
    if (!isMember(this.conf, this.id) && this.confIndex <= this.log.committed) {
      // Our removal is committed: tell the others (so they apply it), then step down; we are
      // no longer part of the cluster.
      this.bcastAppend();
      this.becomeFollower(this.term, NO_NODE);
    }
    return true;
  }

  // ------------------------------------------------------------------ leader: replication

  private bcastAppend(): void {
    if (this.role !== 'leader') return;
    for (const id of this.progress.keys()) {
      if (id !== this.id) this.sendAppend(id, true);
    }
  }

  /** Sends the next append to `to` if its progress allows; true if a message went out. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = (pr.next - 1) as LogIndex;
    invariant(prevIndex <= this.log.lastIndex(), () => `progress of ${to}: next ${pr.next} beyond last index ${this.log.lastIndex()} + 1`);
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) return this.sendSnapshot(pr);
    const entries = pr.next <= this.log.lastIndex() ? this.log.entriesFrom(pr.next, this.options.appendBatchBytesMax) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: 'append',
      to,
      term: this.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.log.committed,
    });
    const bytes = entries.reduce((sum, e) => sum + entryBytes(e), 0);
    pr.sentEntries(entries.length, (prevIndex + entries.length) as LogIndex, bytes);
    return true;
  }

  private sendSnapshot(pr: Progress): boolean {
    // An unresponsive follower would only waste the snapshot: wait until it answers.
    if (!pr.recentActive) return false;
    const meta = this.log.snapshot;
    this.send({ type: 'snapshot', to: pr.id, term: this.term, snapshot: { meta, data: EMPTY } });
    pr.becomeSnapshot(meta.index);
    return true;
  }

  /** Streams appends to `to` while its window allows (at most a window's worth). */
  private sendAppendsWhileOpen(to: NodeId): void {
    for (let i = 0; i < this.options.inflightMessagesMax && this.sendAppend(to, false); i++);
  }

  private bcastHeartbeat(context?: Uint8Array): void {
    const ctx = context ?? this.readOnly.lastContext();
    for (const pr of this.progress.values()) {
      if (pr.id === this.id) continue;
      this.send({
        type: 'heartbeat',
        to: pr.id,
        term: this.term,
        commit: Math.min(pr.match, this.log.committed) as LogIndex,
        ...(ctx !== undefined ? { context: ctx } : {}),
      });
    }
  }

  private handleAppendResponse(m: Message): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    const index = m.index ?? (0 as LogIndex);
    // Leader Completeness: nobody can have (or have committed) more of our term's log than we do.
    invariant(
      index <= this.log.lastIndex(),
      () => `leader ${this.id} (term ${this.term}): node ${m.from} acknowledged index ${index} beyond our last index ${this.log.lastIndex()}`,
    );
    if (m.reject) {
      if (pr.maybeDecrTo(index, this.probeIndexFromHint(index, m.rejectHint))) this.sendAppend(m.from, true);
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(index) && !(pr.match === index && pr.state === 'probe')) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(index);
    }
    if (this.maybeCommit()) this.bcastAppend();
    else if (wasPaused) this.sendAppend(m.from, true);
    if (this.role !== 'leader') return;
    this.sendAppendsWhileOpen(m.from);
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  /**
   * Where to probe next after a reject of the append after `rejected`, from the follower's
   * hint (its entry at hint.index has hint.term; in a conflict, the first of that term).
   */
  private probeIndexFromHint(rejected: LogIndex, hint: Message['rejectHint']): LogIndex {
    if (hint === undefined) return (rejected - 1) as LogIndex;
    const hintIndex = Math.min(hint.index, rejected, this.log.lastIndex()) as LogIndex;
    const ourTerm = this.log.term(hintIndex);
    // Compacted here: probe there anyway; the missing term turns it into a snapshot.
    if (ourTerm === undefined) return hintIndex;
    if (ourTerm === hint.term) return hintIndex; // same (index, term): the logs match up to it
    if (ourTerm < hint.term) return Math.max(hintIndex - 1, 0) as LogIndex; // its entry is not ours
    return this.log.lastIndexWithTermAtMost(hintIndex, hint.term);
  }

  private handleHeartbeatResponse(m: Message): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    // The whole window may have been lost: free a slot so that one append goes out; if there
    // is a gap, the follower rejects it and we fall back to probing.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex() || pr.state === 'probe') this.sendAppend(m.from, true);
    if (m.context === undefined) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined || !this.hasQuorum(acks)) return;
    for (const request of this.readOnly.release(m.context)) {
      this.answerRead(request.from, request.index, request.context);
    }
  }

  private hasQuorum(ids: ReadonlySet<NodeId>): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const id of ids) votes.set(id, true);
    return voteResult(this.conf.voters, votes) === 'won';
  }

  // ------------------------------------------------------------------ leader: reads

  private handleReadRequest(from: NodeId, context: Uint8Array): void {
    const bugs = this.options.plantedBugs;
    if (bugs.readIndexWithoutQuorum) {
      this.answerRead(from, this.log.committed, context);
      return;
    }
    const origin = this.readOnly.originOf(context) ?? this.pendingReads.get(contextKey(context))?.from;
    if (origin !== undefined) {
      // The same request again (a duplicate delivery, a follower's re-send): the pending one
      // answers it. The same context from elsewhere is another request: refuse it, never drop it.
      if (origin !== from || from === this.id) this.rejectRead(from, context);
      return;
    }
    if (this.readOnly.size + this.pendingReads.size >= this.options.pendingReadsMax) {
      this.rejectRead(from, context);
      return;
    }
    // Until an entry of our term commits, our commit index may be behind the true one.
    if (!bugs.noNoopAtTermStart && !this.committedEntryInCurrentTerm()) {
      this.pendingReads.set(contextKey(context), { from, context });
      return;
    }
    this.serveRead(from, context);
  }

  /**
   * The read index is the leader's last index, not its commit index: a read also waits for the
   * writes already proposed. Every entry after it is proposed after the read arrived, so a state
   * machine that stamps entries when they are proposed can order time-based decisions (expiry)
   * with reads: nothing proposed before a read can take effect after the read's index.
   */
  private serveRead(from: NodeId, context: Uint8Array): void {
    // The planted bug also reads at the commit index (as etcd does), where the missing no-op shows.
    const index = this.options.plantedBugs.noNoopAtTermStart ? this.log.committed : this.log.lastIndex();
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
      this.answerRead(from, index, context);
      return;
    }
    const added = this.readOnly.add(index, from, context);
    invariant(added, () => `node ${this.id} queued read context ${contextKey(context)} twice`);
    this.readOnly.recvAck(this.id, context);
    this.bcastHeartbeat(context);
  }

  private releasePendingReads(): void {
    const reads = this.pendingReads;
    this.pendingReads = new Map();
    for (const read of reads.values()) this.serveRead(read.from, read.context);
  }

  private answerRead(from: NodeId, index: LogIndex, context: Uint8Array): void {
    if (from === this.id) this.readStates.push({ index, context });
    else this.send({ type: 'readIndexResponse', to: from, term: this.term, index, context });
  }

  private rejectRead(from: NodeId, context: Uint8Array): void {
    if (from === this.id) this.droppedReads.push(context);
    else this.send({ type: 'readIndexResponse', to: from, term: 0 as Term, context, reject: true });
  }

  /** On losing leadership: every read not yet confirmed fails fast. */
  private dropLeaderReads(): void {
    for (const request of this.readOnly.clear()) this.rejectRead(request.from, request.context);
    const reads = this.pendingReads;
    this.pendingReads = new Map();
    for (const read of reads.values()) this.rejectRead(read.from, read.context);
  }

  // ------------------------------------------------------------------ leader: transfer

  private handleTransferLeader(target: NodeId): void {
    if (target === this.id || !this.conf.voters.includes(target)) return; // learners cannot lead
    if (this.transferee === target) return;
    this.transferee = target;
    // The transfer is abandoned if it does not finish within an election timeout.
    this.electionElapsedTicks = 0;
    const pr = this.progress.get(target);
    if (pr !== undefined && pr.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.sendAppend(target, true);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'timeoutNow', to, term: this.term });
  }

  // ------------------------------------------------------------------ Ready helpers

  private send(m: Omit<Message, 'from'>): void {
    if (m.to === this.id) return; // never to self: local effects are applied directly
    if (this.outbox.length >= OUTBOX_MESSAGES_MAX) {
      this.droppedMessageCount++;
      return;
    }
    this.outbox.push({ ...m, from: this.id });
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private hardStateToPersist(hardState: HardState): HardState {
    // Planted bug: the vote never reaches stable storage, so a restart may vote twice.
    return this.options.plantedBugs.voteNotPersisted ? { ...hardState, vote: NO_NODE } : hardState;
  }

  private softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  private softStateChanged(): boolean {
    return this.leader !== this.prevSoftState.leader || this.role !== this.prevSoftState.role;
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
