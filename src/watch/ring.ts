/**
 * EventRing: the changes a node applied most recently, bounded by count and bytes, for watchers
 * to start and resume from. Changes are dropped oldest first, a whole entry at a time, so the ring
 * always holds every change of every index from `firstIndex` to `appliedIndex`.
 */
import type { SessionChange } from '../session/index.js';
import { compareCursors, type RingEvent, type WatchCursor } from './types.js';

/** What a change costs besides its data: the session's other fields, ids, the event's own. */
export const EVENT_FIXED_BYTES = 256;
/** The dropped slots at the front are compacted away once there are this many. */
const COMPACT_AFTER_EVENTS = 1_024;

export interface RingLimits {
  readonly ringEventsMax: number;
  readonly ringBytesMax: number;
}

export function ringEvent(change: SessionChange): RingEvent {
  const session = change.session;
  return new LazyRingEvent(change, EVENT_FIXED_BYTES + change.dataBytes + session.sessionId.length + session.clientId.length + session.transport.length);
}

/** Its data as JSON is made when a watcher first sends it: a node nobody watches never encodes it. */
class LazyRingEvent implements RingEvent {
  #dataJson: string | undefined;

  constructor(
    readonly change: SessionChange,
    readonly bytes: number,
  ) {}

  get dataJson(): string {
    return (this.#dataJson ??= JSON.stringify(this.change.session.data));
  }
}

export class EventRing {
  private events: RingEvent[] = [];
  /** Slot in `events` of the oldest change kept. */
  private head = 0;
  private bytesHeld = 0;
  /** Sequence number of events[head]: counts every change ever appended, never reused. */
  private headSeq = 0;
  private first: number;
  private applied: number;

  constructor(
    private readonly limits: RingLimits,
    appliedIndex = 0,
  ) {
    this.first = appliedIndex + 1;
    this.applied = appliedIndex;
  }

  /** The oldest index a watch can start from: every change at or after it is held. */
  get firstIndex(): number {
    return this.first;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  get size(): number {
    return this.events.length - this.head;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  /** Sequence number of the oldest change held. */
  get startSeq(): number {
    return this.headSeq;
  }

  /** Sequence number the next appended change will get. */
  get endSeq(): number {
    return this.headSeq + this.size;
  }

  /** The change with sequence number `seq`, if still held. */
  at(seq: number): RingEvent | undefined {
    if (seq < this.headSeq || seq >= this.endSeq) return undefined;
    return this.events[this.head + seq - this.headSeq];
  }

  /** Forgets everything: the state is at `appliedIndex`, the changes before it unknown. */
  reset(appliedIndex: number): void {
    this.headSeq = this.endSeq;
    this.events = [];
    this.head = 0;
    this.bytesHeld = 0;
    this.first = appliedIndex + 1;
    this.applied = appliedIndex;
  }

  /** Adds the changes of entries applied up to `appliedIndex`; returns them as held. */
  append(changes: readonly SessionChange[], appliedIndex: number): RingEvent[] {
    if (appliedIndex < this.applied) throw new Error(`ring: applied index went back from ${this.applied} to ${appliedIndex}`);
    const added: RingEvent[] = [];
    for (const change of changes) {
      const last = this.events[this.events.length - 1];
      if (change.index <= this.applied || change.index > appliedIndex || (last !== undefined && this.size > 0 && compareCursors(change, last.change) <= 0)) {
        throw new Error(`ring: change (${change.index}, ${change.position}) out of order (applied ${this.applied} → ${appliedIndex})`);
      }
      const event = ringEvent(change);
      this.events.push(event);
      this.bytesHeld += event.bytes;
      added.push(event);
    }
    this.applied = appliedIndex;
    this.evict();
    return added;
  }

  /** The first sequence number at or after `cursor` (endSeq if none is held yet); cursor.index must be >= firstIndex. */
  seqAt(cursor: WatchCursor): number {
    if (cursor.index < this.first) throw new Error(`ring: index ${cursor.index} is below the first held ${this.first}`);
    let low = this.head;
    let high = this.events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareCursors(this.events[middle]!.change, cursor) < 0) low = middle + 1;
      else high = middle;
    }
    return this.headSeq + low - this.head;
  }

  /** Drops whole entries, oldest first, until both bounds hold. */
  private evict(): void {
    while (this.size > 0 && (this.size > this.limits.ringEventsMax || this.bytesHeld > this.limits.ringBytesMax)) {
      const index = this.events[this.head]!.change.index;
      while (this.size > 0 && this.events[this.head]!.change.index === index) {
        this.bytesHeld -= this.events[this.head]!.bytes;
        this.head++;
        this.headSeq++;
      }
      this.first = index + 1;
    }
    if (this.head >= COMPACT_AFTER_EVENTS && this.head * 2 >= this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
  }
}
