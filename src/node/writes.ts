/**
 * Writes between their arrival and their answer, and when each is answered:
 * - an ASYNC write once the leader's own log holds its entry durably (after the persist);
 * - a SYNC write once the leader applied its entry (committed by a majority);
 * - a SYNC write still uncommitted when the leader loses leadership, or whose entry a snapshot
 *   replaced, gets OutcomeUnknown at once (it may still commit under the next leader);
 * - a write whose entry was replaced by a new leader's gets ProposalDropped.
 * Writes with a request id that are in flight here share their outcome with a retry.
 */
import type { Entry, LogIndex, Term } from '../raft/index.js';
import type { AppliedResult, CommandResult, RequestId, SessionCommand } from '../session/index.js';
import type { WriteOutcome } from './backend.js';
import { OutcomeUnknownError, ProposalDroppedError } from './errors.js';
import { invariant } from './invariant.js';
import { IndexQueue, type Deferred, type WriteWaiter } from './waiters.js';

/** A write accepted by write() and not yet proposed to the core. */
export interface PendingProposal {
  readonly command: SessionCommand;
  readonly requestId: RequestId | undefined;
  /** The command and request id as one batch item's bytes (encodeBatchItem), packed on arrival. */
  readonly item: Uint8Array;
  readonly durability: 'sync' | 'async';
  readonly deferred: Deferred<WriteOutcome>;
  /** Set when its deadline passed or its caller cancelled before it was proposed. */
  expired: boolean;
  waiter?: WriteWaiter<WriteOutcome>;
}

const REPLACED = 'its log entry was replaced by a new leader';

export class Writes {
  /** Arrived since the last loop turn; proposed (and stamped) in the next one. */
  private proposals: PendingProposal[] = [];
  private readonly asyncWaiters = new IndexQueue<WriteWaiter<WriteOutcome>>();
  private readonly syncWaiters = new IndexQueue<WriteWaiter<WriteOutcome>>();
  /** Writes with a request id not yet answered, so a retry shares the first one's outcome. */
  private readonly inFlight = new Map<string, Promise<WriteOutcome>>();
  private readonly forgetWhenApplied = new IndexQueue<{ readonly index: LogIndex; forget(): void }>();

  /** Writes accepted and not answered (they count against pendingWritesMax). */
  get pending(): number {
    return this.proposals.length + this.asyncWaiters.size + this.syncWaiters.size;
  }

  get hasProposals(): boolean {
    return this.proposals.length > 0;
  }

  add(proposal: PendingProposal): void {
    this.proposals.push(proposal);
  }

  takeProposals(): PendingProposal[] {
    const taken = this.proposals;
    this.proposals = [];
    return taken;
  }

  /** The core took the proposal at (index, term), as item `slot` of that entry: it now waits for it. */
  proposed(proposal: PendingProposal, index: LogIndex, term: Term, slot: number): void {
    const waiter: WriteWaiter<WriteOutcome> = { command: proposal.command, index, slot, term, durability: proposal.durability, deferred: proposal.deferred };
    proposal.waiter = waiter;
    this.queueFor(proposal.durability).push(waiter);
  }

  /** Its deadline passed or its caller gave up: it no longer waits (its entry may still commit). */
  expire(proposal: PendingProposal): void {
    proposal.expired = true;
    if (proposal.waiter) this.queueFor(proposal.waiter.durability).remove(proposal.waiter);
  }

  sharedOutcome(requestId: RequestId): Promise<WriteOutcome> | undefined {
    return this.inFlight.get(requestKey(requestId));
  }

  /** A retry of `requestId` shares `outcome` until the dedup table can answer it (after apply). */
  track(requestId: RequestId, outcome: Promise<WriteOutcome>, appliedIndex: () => LogIndex): void {
    const key = requestKey(requestId);
    this.inFlight.set(key, outcome);
    const forget = (): void => {
      if (this.inFlight.get(key) === outcome) this.inFlight.delete(key);
    };
    // An ASYNC answer comes before apply: until then the dedup table cannot answer a retry.
    outcome.then((answer) => {
      if (answer.durability === 'async' && appliedIndex() < answer.index) this.forgetWhenApplied.push({ index: answer.index, forget });
      else forget();
    }, forget);
  }

  /**
   * ASYNC writes are answered once the leader's own log holds them durably. `plantedBug`
   * (tests only: NodePlantedBugs.syncAckBeforeCommit) answers SYNC writes there too.
   */
  acknowledgeAsync(persisted: readonly Entry[], plantedBug = false): void {
    if (persisted.length === 0) return;
    const first = persisted[0]!.index;
    const last = persisted[persisted.length - 1]!.index;
    const waiters = this.asyncWaiters.takeUpTo(last);
    if (plantedBug) waiters.push(...this.syncWaiters.takeUpTo(last));
    for (const waiter of waiters) {
      const entry = waiter.index >= first ? persisted[waiter.index - first] : undefined; // contiguous
      if (entry && entry.term === waiter.term) {
        waiter.deferred.resolve({ index: waiter.index, result: { ok: true }, durability: 'async', proposed: waiter.command });
      } else {
        waiter.deferred.reject(new ProposalDroppedError(REPLACED));
      }
    }
  }

  /** SYNC writes up to `applied`, with the results apply gave their entries. */
  answerSync(committed: readonly Entry[], results: readonly AppliedResult[], applied: LogIndex): void {
    const waiters = this.syncWaiters.takeUpTo(applied);
    if (waiters.length === 0) return;
    const termAt = new Map<number, Term>(committed.map((e) => [e.index, e.term]));
    const resultAt = new Map<string, CommandResult>(results.map((r) => [`${r.index}/${r.slot ?? 0}`, r.result]));
    for (const waiter of waiters) {
      if (termAt.get(waiter.index) !== waiter.term) {
        waiter.deferred.reject(new ProposalDroppedError(REPLACED));
        continue;
      }
      const result = resultAt.get(`${waiter.index}/${waiter.slot}`);
      invariant(result !== undefined, () => `no result for the write at index ${waiter.index} slot ${waiter.slot}`);
      waiter.deferred.resolve({ index: waiter.index, result, durability: waiter.durability });
    }
  }

  /**
   * Leadership lost: entries beyond the commit index may commit under the next leader or be
   * replaced, and this node may be cut off and never learn which. Answer now rather than at the
   * deadline; a client retries with the same request id.
   */
  leadershipLost(commit: LogIndex, nodeId: number): void {
    const error = new OutcomeUnknownError(`node ${nodeId} lost leadership before the write was committed`);
    for (const waiter of this.syncWaiters.takeAfter(commit)) waiter.deferred.reject(error);
  }

  /** A snapshot from the leader replaced the entries up to `applied` before they were applied here. */
  snapshotInstalled(applied: LogIndex): void {
    const error = new OutcomeUnknownError('a snapshot from the leader replaced its entry before it was applied here');
    for (const waiter of this.syncWaiters.takeUpTo(applied)) waiter.deferred.reject(error);
  }

  /** After apply or a snapshot install moved `applied`. */
  appliedTo(applied: LogIndex): void {
    // An ASYNC write still waiting here never got its entry persisted: a new leader replaced it.
    for (const waiter of this.asyncWaiters.takeUpTo(applied)) waiter.deferred.reject(new ProposalDroppedError(REPLACED));
    for (const inflight of this.forgetWhenApplied.takeUpTo(applied)) inflight.forget();
  }

  failAll(error: Error): void {
    for (const proposal of this.takeProposals()) proposal.deferred.reject(error);
    for (const waiter of this.syncWaiters.takeAll()) waiter.deferred.reject(error);
    for (const waiter of this.asyncWaiters.takeAll()) waiter.deferred.reject(error);
  }

  private queueFor(durability: 'sync' | 'async'): IndexQueue<WriteWaiter<WriteOutcome>> {
    return durability === 'async' ? this.asyncWaiters : this.syncWaiters;
  }
}

function requestKey(requestId: RequestId): string {
  return `${requestId.clientId}\u0000${requestId.seq}`;
}
