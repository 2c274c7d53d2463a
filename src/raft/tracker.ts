/**
 * The leader's view of each member's log (etcd's tracker.Progress), and the bounded window of
 * append messages in flight to a follower in replicate state.
 *
 *   probe:     one append at a time, waiting for the answer (or a heartbeat answer) to learn
 *              where the follower's log matches ours;
 *   replicate: appends streamed optimistically, bounded by the in-flight window;
 *   snapshot:  a snapshot is on its way; nothing else is sent until it is reported or acked.
 */
import type { ProgressState } from './api.js';
import { invariant } from './assert.js';
import type { LogIndex, NodeId } from './types.js';

/** Append messages in flight to one follower, by last index, with their data bytes. */
export class Inflights {
  private readonly lastIndexes: LogIndex[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;

  constructor(
    private readonly messagesMax: number,
    private readonly bytesMax: number,
  ) {}

  get count(): number {
    return this.lastIndexes.length;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  full(): boolean {
    return this.lastIndexes.length >= this.messagesMax || this.bytes >= this.bytesMax;
  }

  add(lastIndex: LogIndex, bytes: number): void {
    invariant(this.lastIndexes.length < this.messagesMax, () => `in-flight window full: ${this.lastIndexes.length} messages (max ${this.messagesMax})`);
    const previous = this.lastIndexes.at(-1);
    invariant(previous === undefined || lastIndex > previous, () => `in-flight index ${lastIndex} not after ${previous}`);
    this.lastIndexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Frees every message whose last index is ≤ `index` (acknowledged). */
  freeLE(index: LogIndex): void {
    let n = 0;
    while (n < this.lastIndexes.length && (this.lastIndexes[n] as LogIndex) <= index) {
      this.bytes -= this.sizes[n] as number;
      n++;
    }
    this.lastIndexes.splice(0, n);
    this.sizes.splice(0, n);
  }

  /** Frees the oldest message, if any (to probe a full window that may have been lost). */
  freeFirstOne(): void {
    const first = this.lastIndexes[0];
    if (first !== undefined) this.freeLE(first);
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}

export class Progress {
  /** Highest index known to be in the member's log. */
  match: LogIndex = 0 as LogIndex;
  /** Next index to send. Invariant: match < next. */
  next: LogIndex;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot sent. */
  pendingSnapshot: LogIndex = 0 as LogIndex;
  /** Heard from since the last check-quorum round. */
  recentActive: boolean;
  /** In probe state: an append is out, wait for its answer before sending another. */
  probeSent = false;
  /** In snapshot state: ticks spent waiting for the snapshot to be acknowledged or reported. */
  snapshotWaitTicks = 0;
  readonly inflights: Inflights;

  constructor(
    readonly id: NodeId,
    next: LogIndex,
    inflightMessagesMax: number,
    inflightBytesMax: number,
    recentActive: boolean,
  ) {
    this.next = next;
    this.recentActive = recentActive;
    this.inflights = new Inflights(inflightMessagesMax, inflightBytesMax);
  }

  isPaused(): boolean {
    if (this.state === 'probe') return this.probeSent;
    if (this.state === 'replicate') return this.inflights.full();
    return true;
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it: the follower has (or will ask again for) it.
    const after = this.state === 'snapshot' ? Math.max(this.match, this.pendingSnapshot) : this.match;
    this.reset('probe', (after + 1) as LogIndex);
  }

  becomeReplicate(): void {
    this.reset('replicate', (this.match + 1) as LogIndex);
  }

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.reset('snapshot', this.next);
    this.pendingSnapshot = snapshotIndex;
  }

  private reset(state: ProgressState, next: LogIndex): void {
    this.state = state;
    this.next = next;
    this.pendingSnapshot = 0 as LogIndex;
    this.probeSent = false;
    this.snapshotWaitTicks = 0;
    this.inflights.reset();
  }

  /** An append of `count` entries (ending at `lastIndex`, `bytes` of data) was sent. */
  sentEntries(count: number, lastIndex: LogIndex, bytes: number): void {
    if (this.state === 'replicate' && count > 0) {
      this.next = (lastIndex + 1) as LogIndex;
      this.inflights.add(lastIndex, bytes);
    }
    if (this.state === 'probe') this.probeSent = true;
  }

  /** The member acknowledged `index`; returns whether match moved. */
  maybeUpdate(index: LogIndex): boolean {
    const updated = index > this.match;
    if (updated) {
      this.match = index;
      this.probeSent = false;
    }
    if (this.next <= index) this.next = (index + 1) as LogIndex;
    return updated;
  }

  /**
   * The member rejected an append whose previous index was `rejected`; `probeIndex` is where
   * the leader guesses the logs match (from the reject hint). Returns false for a stale reject.
   * Leaves the progress in probe state, ready to send the next probe.
   */
  maybeDecrTo(rejected: LogIndex, probeIndex: LogIndex): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
    } else if (this.next - 1 !== rejected) {
      return false;
    }
    // A reject in replicate state means the pipeline broke: probe again, from the hint.
    this.reset('probe', Math.max(Math.min(rejected, probeIndex + 1), this.match + 1) as LogIndex);
    invariant(this.next > this.match, () => `progress of ${this.id}: next ${this.next} not above match ${this.match}`);
    return true;
  }
}
