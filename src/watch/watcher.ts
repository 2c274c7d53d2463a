/**
 * One watch stream. A watcher behind the ring's newest change reads the ring at its own pace
 * (catch-up); once it has read everything it goes live, and each append pushes the matching new
 * changes into its bounded queue. Responses leave as fast as the stream takes them: at most
 * WRITES_INFLIGHT_MAX responses wait for grpc's write callback, so a client that does not read
 * stops the watcher (HTTP/2 flow control) and its queue fills: past queueEventsMax or
 * queueBytesMax it is cut off with WatchOverloadedError rather than holding memory without bound.
 */
import { WatchOutOfRangeError, WatchOverloadedError } from './errors.js';
import type { ResolvedWatchOptions } from './options.js';
import type { EventRing } from './ring.js';
import { compareCursors, type RingEvent, type WatchBatch, type WatchCursor, type WatchOutput } from './types.js';

/** Responses written and not yet taken by the transport, at most. */
export const WRITES_INFLIGHT_MAX = 2;
/** Changes of the ring examined in one catch-up step, at most (the loop yields between steps). */
const SCAN_EVENTS_MAX = 16_384;

export class Watcher {
  /** The next change wanted that is neither queued nor sent. */
  private next: WatchCursor;
  private live = false;
  private queue: RingEvent[] = [];
  private queueBytes = 0;
  private writesInFlight = 0;
  /** The highest progress index sent so far. */
  private progressSent: number;
  private lastSentAtMs = Number.NEGATIVE_INFINITY;
  private closed = false;
  private pumpScheduled = false;

  constructor(
    private readonly ring: EventRing,
    private readonly options: ResolvedWatchOptions,
    private readonly clientId: string | undefined,
    from: WatchCursor,
    private readonly output: WatchOutput,
    private readonly nowMs: () => number,
    private readonly onClose: (watcher: Watcher) => void,
    /** Runs a pump after the node's apply step: the appends of one turn leave in one response, off the apply path. */
    private readonly schedule: (pump: () => void) => void = setImmediate,
  ) {
    this.next = from;
    // Nothing was sent yet; the client had every change before `from` already.
    this.progressSent = -1;
    this.send([], from.index - 1);
    this.pump();
  }

  /** The oldest index this watcher still needs (the queued changes included). */
  get neededIndex(): number {
    return this.queue.length > 0 ? this.queue[0]!.change.index : this.next.index;
  }

  /** The index of the next change wanted that is neither queued nor sent: the ring must still hold it. */
  get nextIndex(): number {
    return this.next.index;
  }

  get isLive(): boolean {
    return this.live;
  }

  get queuedEvents(): number {
    return this.queue.length;
  }

  /** New changes were appended to the ring (all of them, filtered here). */
  appended(events: readonly RingEvent[]): void {
    if (this.closed) return;
    if (!this.live && this.next.index < this.ring.firstIndex) return this.failOutOfRange();
    if (this.live) {
      for (const event of events) {
        if (compareCursors(event.change, this.next) < 0 || !this.matches(event)) continue;
        this.queue.push(event);
        this.queueBytes += event.bytes;
      }
      this.advanceNext({ index: this.ring.appliedIndex + 1, position: 0 });
      const o = this.options;
      if (this.queue.length > o.queueEventsMax || this.queueBytes > o.queueBytesMax) {
        return this.fail(
          new WatchOverloadedError(
            `the watcher does not keep up: ${this.queue.length} events (${this.queueBytes} bytes) wait to be sent, beyond watch queueEventsMax ` +
              `(${o.queueEventsMax}) or queueBytesMax (${o.queueBytesMax}); read faster, or watch again from index ${this.neededIndex}`,
          ),
        );
      }
    }
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    this.schedule(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Ends the stream with `error` (unless it ended already). */
  fail(error: Error): void {
    if (this.closed) return;
    this.close();
    this.output.fail(error);
  }

  /** Forgets the watcher without writing anything more (the stream went away). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queueBytes = 0;
    this.onClose(this);
  }

  /** The ring dropped changes this watcher had not read yet (it reads slower than the cluster writes). */
  private failOutOfRange(): undefined {
    const first = this.ring.firstIndex;
    this.fail(
      new WatchOutOfRangeError(
        first,
        `the node no longer holds the changes from index ${this.next.index} this watcher had not read yet (it read slower than changes were made); the oldest index it can serve is ${first}`,
      ),
    );
    return undefined;
  }

  private matches(event: RingEvent): boolean {
    return this.clientId === undefined || event.change.session.clientId === this.clientId;
  }

  private advanceNext(cursor: WatchCursor): void {
    if (compareCursors(cursor, this.next) > 0) this.next = cursor;
  }

  private pump(): void {
    while (!this.closed && this.writesInFlight < WRITES_INFLIGHT_MAX) {
      const batch = this.live ? this.takeQueued() : this.takeFromRing();
      if (batch === undefined) return;
      this.send(batch.events, batch.progressIndex);
    }
  }

  /** A response from the queue; or, with nothing queued, a progress report when one is due. */
  private takeQueued(): WatchBatch | undefined {
    const o = this.options;
    const events: RingEvent[] = [];
    let bytes = 0;
    let taken = 0;
    while (taken < this.queue.length && events.length < o.responseEventsMax && (events.length === 0 || bytes < o.responseBytesMax)) {
      const event = this.queue[taken++]!;
      events.push(event);
      bytes += event.bytes;
    }
    if (taken > 0) {
      this.queue = this.queue.slice(taken);
      this.queueBytes -= bytes;
    }
    return this.batch(events);
  }

  /** The next response read from the ring; goes live once it has read the newest change. */
  private takeFromRing(): WatchBatch | undefined {
    const ring = this.ring;
    if (this.next.index < ring.firstIndex) return this.failOutOfRange();
    const o = this.options;
    const events: RingEvent[] = [];
    let bytes = 0;
    let seq = ring.seqAt(this.next);
    const scanEndSeq = Math.min(ring.endSeq, seq + SCAN_EVENTS_MAX);
    for (; seq < scanEndSeq && events.length < o.responseEventsMax && (events.length === 0 || bytes < o.responseBytesMax); seq++) {
      const event = ring.at(seq)!;
      if (!this.matches(event)) continue;
      events.push(event);
      bytes += event.bytes;
    }
    const atEnd = seq >= ring.endSeq;
    if (atEnd) {
      this.live = true;
      this.advanceNext({ index: ring.appliedIndex + 1, position: 0 });
    } else {
      const change = ring.at(seq)!.change;
      this.advanceNext({ index: change.index, position: change.position });
    }
    const batch = this.batch(events);
    // A scan that found nothing to send but is not done yet goes on in a later turn.
    if (batch === undefined && !atEnd) this.schedulePump();
    return batch;
  }

  /** events + the progress they complete; undefined when there is nothing worth sending. */
  private batch(events: RingEvent[]): WatchBatch | undefined {
    const progressIndex = this.queue.length > 0 ? this.queue[0]!.change.index - 1 : this.next.index - 1;
    if (events.length > 0) return { events, progressIndex };
    const due = this.nowMs() - this.lastSentAtMs >= this.options.progressIntervalMs;
    return progressIndex > this.progressSent && due ? { events, progressIndex } : undefined;
  }

  private send(events: readonly RingEvent[], progressIndex: number): void {
    this.writesInFlight++;
    this.lastSentAtMs = this.nowMs();
    if (progressIndex > this.progressSent) this.progressSent = progressIndex;
    this.output.write({ events, progressIndex: Math.max(progressIndex, 0) }, () => {
      this.writesInFlight--;
      this.pump();
    });
  }
}
