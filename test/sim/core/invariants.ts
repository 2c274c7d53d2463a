/**
 * The Raft safety properties, checked incrementally from what the harness observes: statuses
 * after each handled event, every persisted batch, every sent message, every applied entry.
 * Nothing here knows about planted bugs; a violation is a description with the numbers in it.
 */
import type { Entry, HardState, LogIndex, Message, NodeId, Role, Term } from '../../../src/raft/index.js';
import { NO_NODE } from '../../../src/raft/index.js';
import { hashBytes } from './hash.js';

export type InvariantName =
  | 'electionSafety'
  | 'leaderAppendOnly'
  | 'logMatching'
  | 'leaderCompleteness'
  | 'stateMachineSafety'
  | 'termVoteMonotonic'
  | 'commitMonotonic'
  | 'storageContract'
  | 'liveness'
  | 'linearizability'
  | 'coreError';

export interface Violation {
  readonly invariant: InvariantName;
  readonly tick: number;
  readonly node?: number;
  readonly message: string;
}

/** A node's log as far as the checker needs it (the sim disk implements it). */
export interface LogView {
  readonly snapshotIndex: LogIndex;
  readonly lastIndex: LogIndex;
  termAt(index: number): Term | undefined;
}

export interface ObservedStatus {
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId;
  readonly commit: LogIndex;
}

export interface PersistedBatch {
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshotIndex?: LogIndex;
  readonly snapshotTerm?: Term;
}

interface EntryIdentity {
  readonly term: Term;
  readonly dataHash: number;
  readonly node: number;
}

interface LogMatchRecord {
  readonly dataHash: number;
  readonly prevTerm: number;
  readonly where: string;
}

/** Terms stay far below this in a simulation; it keeps (index, term) keys exact numbers. */
const TERM_KEY_SPAN = 1_000_000;

export interface InvariantCheckerOptions {
  /** Violations kept (later ones are counted only). @default 50 */
  readonly violationsMax?: number;
}

export class InvariantChecker {
  tick = 0;
  readonly violations: Violation[] = [];
  violationCount = 0;
  private readonly violationsMax: number;
  private readonly leaderByTerm = new Map<number, number>();
  private readonly leaderTermsSeen = new Set<string>();
  private readonly logMatch = new Map<number, LogMatchRecord>();
  private readonly applied = new Map<number, EntryIdentity>();
  private readonly stateHashes = new Map<number, { hash: string; node: number }>();
  private maxAppliedIndex = 0;
  private readonly termVote = new Map<number, { term: number; vote: number; source: string }>();
  private readonly commitByIncarnation = new Map<number, { incarnation: number; commit: number }>();

  constructor(options: InvariantCheckerOptions = {}) {
    this.violationsMax = options.violationsMax ?? 50;
    if (!(this.violationsMax >= 1)) throw new RangeError(`violationsMax must be ≥ 1, got ${this.violationsMax}`);
  }

  get ok(): boolean {
    return this.violationCount === 0;
  }

  report(invariant: InvariantName, message: string, node?: number): void {
    this.violationCount++;
    if (this.violations.length >= this.violationsMax) return;
    const v: Violation = node === undefined ? { invariant, tick: this.tick, message } : { invariant, tick: this.tick, node, message };
    this.violations.push(v);
  }

  /** After a node handled an event (everything it handed out is persisted). */
  observeStatus(node: number, incarnation: number, status: ObservedStatus, log: LogView): void {
    this.checkTermVote(node, status.term, status.vote, `status (incarnation ${incarnation})`);
    this.checkCommitInMemory(node, incarnation, status.commit);
    if (status.role !== 'leader') return;
    const holder = this.leaderByTerm.get(status.term);
    if (holder === undefined) this.leaderByTerm.set(status.term, node);
    else if (holder !== node) {
      this.report('electionSafety', `two leaders in term ${status.term}: node ${holder} and node ${node}`, node);
    }
    const key = `${node}:${status.term}`;
    if (this.leaderTermsSeen.has(key)) return;
    this.leaderTermsSeen.add(key);
    this.checkLeaderCompleteness(node, status.term, log);
  }

  /** A batch a node wrote to its disk; `before` is the disk as it was, `role` its role then. */
  observePersist(node: number, role: Role, batch: PersistedBatch, before: LogView, hardBefore: HardState): void {
    const hs = batch.hardState;
    if (hs !== undefined) {
      if (hs.commit < hardBefore.commit) {
        this.report('commitMonotonic', `node ${node} persisted commit ${hs.commit} below its persisted ${hardBefore.commit}`, node);
      }
      if (hs.term < hardBefore.term) {
        this.report('termVoteMonotonic', `node ${node} persisted term ${hs.term} below its persisted ${hardBefore.term}`, node);
      }
    }
    if (role === 'leader') this.checkLeaderAppendOnly(node, batch, before);
    const base = batch.snapshotIndex !== undefined ? { index: batch.snapshotIndex, term: batch.snapshotTerm ?? 0 } : undefined;
    const first = batch.entries[0];
    if (first === undefined) return;
    const prevTerm = base !== undefined && first.index - 1 === base.index ? base.term : before.termAt(first.index - 1);
    this.checkEntries(node, batch.entries, prevTerm, `node ${node}'s disk`);
  }

  /** Every message a node sends (its in-memory log shows in appends; votes are promises). */
  observeSent(m: Message): void {
    if (m.type === 'voteResponse' && m.reject !== true) {
      this.checkTermVote(m.from, m.term, m.to, `vote granted to ${m.to}`);
    }
    if (m.type === 'append' && m.entries !== undefined && m.entries.length > 0) {
      this.checkEntries(m.from, m.entries, m.logTerm, `append ${m.from}→${m.to}`);
    }
  }

  /** A node applied `entry`; `stateHash` is its state machine's fingerprint afterwards. */
  observeApplied(node: number, entry: Entry, stateHash: string): void {
    const id: EntryIdentity = { term: entry.term, dataHash: entryHash(entry), node };
    const known = this.applied.get(entry.index);
    if (known === undefined) this.applied.set(entry.index, id);
    else if (known.term !== id.term || known.dataHash !== id.dataHash) {
      this.report(
        'stateMachineSafety',
        `index ${entry.index}: node ${known.node} applied term ${known.term} (data #${known.dataHash}), node ${node} applied term ${id.term} (data #${id.dataHash})`,
        node,
      );
    }
    if (entry.index > this.maxAppliedIndex) this.maxAppliedIndex = entry.index;
    this.checkStateHash(node, entry.index, stateHash);
  }

  /** A node replaced its state machine with a snapshot at `index`. */
  observeSnapshotRestored(node: number, index: number, stateHash: string): void {
    if (index > this.maxAppliedIndex) this.maxAppliedIndex = index;
    this.checkStateHash(node, index, stateHash);
  }

  /** Highest index any node has applied (known committed). */
  get committedIndexMax(): number {
    return this.maxAppliedIndex;
  }

  private checkStateHash(node: number, index: number, hash: string): void {
    const known = this.stateHashes.get(index);
    if (known === undefined) this.stateHashes.set(index, { hash, node });
    else if (known.hash !== hash) {
      this.report(
        'stateMachineSafety',
        `state after index ${index} differs: node ${known.node} has ${known.hash}, node ${node} has ${hash}`,
        node,
      );
    }
  }

  private checkTermVote(node: number, t: number, vote: number, source: string): void {
    const last = this.termVote.get(node);
    if (last !== undefined) {
      if (t < last.term) {
        this.report('termVoteMonotonic', `node ${node}: term went back from ${last.term} (${last.source}) to ${t} (${source})`, node);
      } else if (t === last.term && last.vote !== NO_NODE && vote !== last.vote) {
        this.report(
          'termVoteMonotonic',
          `node ${node}: vote in term ${t} changed from ${last.vote} (${last.source}) to ${vote} (${source})`,
          node,
        );
      }
      if (t < last.term || (t === last.term && vote === NO_NODE)) return;
    }
    this.termVote.set(node, { term: t, vote, source });
  }

  private checkCommitInMemory(node: number, incarnation: number, commit: number): void {
    const last = this.commitByIncarnation.get(node);
    if (last !== undefined && last.incarnation === incarnation && commit < last.commit) {
      this.report('commitMonotonic', `node ${node} (incarnation ${incarnation}): commit went back from ${last.commit} to ${commit}`, node);
    }
    this.commitByIncarnation.set(node, { incarnation, commit });
  }

  private checkLeaderAppendOnly(node: number, batch: PersistedBatch, before: LogView): void {
    if (batch.snapshotIndex !== undefined) {
      this.report('leaderAppendOnly', `leader ${node} installed a snapshot at ${batch.snapshotIndex} over its log`, node);
    }
    for (const e of batch.entries) {
      if (e.index > before.lastIndex) break;
      const old = before.termAt(e.index);
      if (old !== undefined && old !== e.term) {
        this.report('leaderAppendOnly', `leader ${node} overwrote index ${e.index} (term ${old}) with term ${e.term}`, node);
        return;
      }
    }
  }

  private checkLeaderCompleteness(node: number, leaderTerm: number, log: LogView): void {
    for (let i = log.snapshotIndex + 1; i <= this.maxAppliedIndex; i++) {
      const committed = this.applied.get(i);
      if (committed === undefined) continue;
      const have = log.termAt(i);
      if (have !== committed.term) {
        this.report(
          'leaderCompleteness',
          `leader ${node} of term ${leaderTerm} lacks committed index ${i} (term ${committed.term}); its log has ${have === undefined ? 'nothing' : `term ${have}`} there (log ${log.snapshotIndex}..${log.lastIndex})`,
          node,
        );
        return;
      }
    }
  }

  /** Log Matching: (index, term) names one entry with one predecessor term, over all time. */
  private checkEntries(node: number, entries: readonly Entry[], prevTermFirst: number | undefined, where: string): void {
    let prevTerm = prevTermFirst;
    for (const e of entries) {
      if (e.term >= TERM_KEY_SPAN) throw new Error(`term ${e.term} too large for the checker's keys`);
      if (prevTerm !== undefined && e.term < prevTerm) {
        this.report('logMatching', `${where}: index ${e.index} has term ${e.term} below its predecessor's ${prevTerm}`, node);
      }
      const key = e.index * TERM_KEY_SPAN + e.term;
      const rec: LogMatchRecord = { dataHash: entryHash(e), prevTerm: prevTerm ?? -1, where };
      const known = this.logMatch.get(key);
      if (known === undefined) {
        if (prevTerm !== undefined) this.logMatch.set(key, rec);
      } else if (known.dataHash !== rec.dataHash) {
        this.report('logMatching', `entry (index ${e.index}, term ${e.term}) has different data in ${known.where} and ${where}`, node);
      } else if (prevTerm !== undefined && known.prevTerm !== prevTerm) {
        this.report(
          'logMatching',
          `entry (index ${e.index}, term ${e.term}) follows term ${known.prevTerm} in ${known.where} but term ${prevTerm} in ${where}`,
          node,
        );
      }
      prevTerm = e.term;
    }
  }
}

export function entryHash(e: Entry): number {
  return hashBytes(e.data, e.type === 'normal' ? 1 : 2);
}
