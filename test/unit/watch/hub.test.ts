import { describe, expect, it } from 'vitest';
import type { LogIndex } from '../../../src/raft/index.js';
import {
  WatchClosedError,
  WatchHub,
  WatchOutOfRangeError,
  WatchOverloadedError,
  type WatchOptions,
  type WatchRequest,
} from '../../../src/watch/index.js';
import { change, changes, RecordingOutput } from './helpers.js';

const idx = (n: number) => n as LogIndex;
const from = (fromIndex: number, fromPosition = 0, clientId?: string): WatchRequest => ({ clientId, fromIndex, fromPosition });

function hub(options: WatchOptions = {}, clock = { nowMs: 0 }): WatchHub {
  const h = new WatchHub(options, () => clock.nowMs, (pump) => pump()); // writes at once: the assertions read them synchronously
  h.reset(idx(0));
  return h;
}

describe('WatchHub: starting and following', () => {
  it('watches from the next applied entry when from_index is 0, telling the start as progress', () => {
    const h = hub();
    h.applied(changes(1, 3), idx(3));
    const out = new RecordingOutput();
    h.subscribe(from(0), out);
    expect(out.batches).toEqual([{ events: [], progressIndex: 3 }]);
    h.applied(changes(4, 5, 2), idx(5));
    expect(out.positions).toEqual([[4, 0], [4, 1], [5, 0], [5, 1]]);
    expect(out.lastProgress).toBe(5);
  });

  it('catches up from an older index, skipping from_position changes of it, then follows live, without a gap or a duplicate', () => {
    const h = hub({ responseEventsMax: 4 });
    h.applied(changes(1, 5, 3), idx(5));
    const out = new RecordingOutput();
    h.subscribe(from(2, 1), out);
    h.applied(changes(6, 6, 3), idx(6));
    const expected: [number, number][] = [];
    for (let i = 2; i <= 6; i++) for (let p = 0; p < 3; p++) if (i > 2 || p >= 1) expected.push([i, p]);
    expect(out.positions).toEqual(expected);
    expect(out.batches.every((b) => b.events.length <= 4)).toBe(true);
    // progress never claims an index whose changes are not all sent
    for (const [i, b] of out.batches.entries()) {
      const sentUpTo = out.batches.slice(0, i + 1).flatMap((x) => x.events).map((e) => e.change);
      const later = expected.slice(sentUpTo.length);
      expect(later.every(([index]) => index > b.progressIndex), `batch ${i}`).toBe(true);
    }
    expect(out.lastProgress).toBe(6);
  });

  it('sends only the changes of the watched client, and reports progress past the others at most every progressIntervalMs', () => {
    const clock = { nowMs: 0 };
    const h = hub({ progressIntervalMs: 1_000 }, clock);
    const out = new RecordingOutput();
    h.subscribe(from(1, 0, 'bob'), out);
    h.applied([change(1, 0, 'alice'), change(1, 1, 'bob'), change(1, 2, 'alice')], idx(1));
    expect(out.positions).toEqual([[1, 1]]);
    const batchesBefore = out.batches.length;
    clock.nowMs = 500;
    h.applied([change(2, 0, 'alice')], idx(2));
    expect(out.batches.length).toBe(batchesBefore); // not due yet
    clock.nowMs = 1_000;
    h.applied([change(3, 0, 'alice')], idx(3));
    expect(out.batches.at(-1)).toEqual({ events: [], progressIndex: 3 });
  });

  it('waits for a from_index not applied yet, skipping the changes before it', () => {
    const h = hub();
    h.applied(changes(1, 2), idx(2));
    const out = new RecordingOutput();
    h.subscribe(from(5, 1), out);
    expect(out.batches).toEqual([{ events: [], progressIndex: 4 }]);
    h.applied(changes(3, 4, 2), idx(4));
    h.applied(changes(5, 6, 2), idx(6));
    expect(out.positions).toEqual([[5, 1], [6, 0], [6, 1]]);
  });
});

describe('WatchHub: what it refuses or cuts off', () => {
  it('answers a from_index older than the ring holds with WatchOutOfRangeError carrying the oldest index', () => {
    const h = hub({ ringEventsMax: 10 });
    h.applied(changes(1, 20), idx(20));
    let error: unknown;
    try {
      h.subscribe(from(5), new RecordingOutput());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WatchOutOfRangeError);
    expect((error as WatchOutOfRangeError).oldestIndex).toBe(11);
    expect((error as Error).message).toMatch(/^from_index: 5 is older than the oldest index this node can serve, 11/);
    const out = new RecordingOutput();
    h.subscribe(from(11), out);
    expect(out.positions.map(([i]) => i)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  });

  it('cuts off a live watcher whose stream takes nothing once its queue passes queueEventsMax; others go on, memory stays bounded', () => {
    const h = hub({ queueEventsMax: 8, responseEventsMax: 2 });
    const stuck = new RecordingOutput(false);
    const reader = new RecordingOutput();
    h.subscribe(from(1), stuck);
    h.subscribe(from(1), reader);
    let index = 0;
    for (; index < 100 && stuck.failure === undefined; ) {
      index++;
      h.applied([change(index, 0)], idx(index));
      expect(h.stats().queuedEvents).toBeLessThanOrEqual(8);
    }
    expect(stuck.failure).toBeInstanceOf(WatchOverloadedError);
    expect(stuck.failure!.message).toMatch(/does not keep up: 9 events .* beyond watch queueEventsMax \(8\)/);
    // header + one response were in flight (WRITES_INFLIGHT_MAX 2); nothing more was written to it
    expect(stuck.batches.length).toBe(2);
    h.applied([change(index + 1, 0)], idx(index + 1));
    expect(reader.positions.map(([i]) => i)).toEqual(Array.from({ length: index + 1 }, (_, i) => i + 1));
    expect(h.stats()).toMatchObject({ watchers: 1, queuedEvents: 0 });
  });

  it('cuts off by queued bytes too', () => {
    const h = hub({ queueBytesMax: 10_000 });
    const stuck = new RecordingOutput(false);
    h.subscribe(from(1), stuck);
    for (let i = 1; i <= 20 && stuck.failure === undefined; i++) h.applied([change(i, 0, 'alice', 'updated', { blob: 'x'.repeat(2_000) })], idx(i));
    expect(stuck.failure).toBeInstanceOf(WatchOverloadedError);
    expect(stuck.failure!.message).toMatch(/queueBytesMax \(10000\)/);
  });

  it('cuts off a catching-up watcher that falls off the ring with WatchOutOfRangeError', () => {
    const h = hub({ ringEventsMax: 10, responseEventsMax: 1 });
    h.applied(changes(1, 10), idx(10));
    const slow = new RecordingOutput(false);
    h.subscribe(from(1), slow); // header + (1,0) in flight, then it stops
    h.applied(changes(11, 15), idx(15)); // the ring drops 1-5
    expect(slow.failure).toBeInstanceOf(WatchOutOfRangeError);
    expect((slow.failure as WatchOutOfRangeError).oldestIndex).toBe(6);
    expect(h.stats().watchers).toBe(0);
  });

  it('after a snapshot install (reset), cuts off the watchers that need changes at or below it and keeps those past it', () => {
    const h = hub();
    h.applied(changes(1, 5), idx(5));
    const live = new RecordingOutput();
    const future = new RecordingOutput();
    h.subscribe(from(1), live);
    h.subscribe(from(60), future);
    h.reset(idx(50));
    expect(live.failure).toBeInstanceOf(WatchOutOfRangeError);
    expect((live.failure as WatchOutOfRangeError).oldestIndex).toBe(51);
    expect(live.failure!.message).toMatch(/snapshot at index 50/);
    expect(future.failure).toBeUndefined();
    h.applied(changes(51, 61), idx(61));
    expect(future.positions).toEqual([[60, 0], [61, 0]]);
  });

  it('refuses a watch past streamsMax with WatchOverloadedError, and takes one again once a stream is cancelled', () => {
    const h = hub({ streamsMax: 2 });
    const first = h.subscribe(from(0), new RecordingOutput());
    h.subscribe(from(0), new RecordingOutput());
    expect(() => h.subscribe(from(0), new RecordingOutput())).toThrow(WatchOverloadedError);
    expect(() => h.subscribe(from(0), new RecordingOutput())).toThrow(/streamsMax \(2\)/);
    first.cancel();
    expect(() => h.subscribe(from(0), new RecordingOutput())).not.toThrow();
  });

  it('close() ends every stream with WatchClosedError and refuses new ones', () => {
    const h = hub();
    const out = new RecordingOutput();
    h.subscribe(from(0), out);
    h.close();
    expect(out.failure).toBeInstanceOf(WatchClosedError);
    expect(() => h.subscribe(from(0), new RecordingOutput())).toThrow(WatchClosedError);
    expect(h.stats().watchers).toBe(0);
  });
});
