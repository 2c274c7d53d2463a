/**
 * Bookkeeping for callers waiting on the log: writes waiting for their entry (persisted for
 * ASYNC, applied for SYNC) and reads waiting for an applied index.
 */
import type { LogIndex, Term } from '../raft/index.js';
import type { SessionCommand } from '../session/index.js';
import { TimeoutError } from './errors.js';
import type { Clock } from './io.js';

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Waiters keyed by log index, released in index order as the index advances. A min-heap would
 * do too; writes arrive in index order on a leader, so an array kept sorted by insertion is
 * almost always appended at the end.
 */
export class IndexQueue<T extends { readonly index: LogIndex }> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    let at = this.items.length;
    while (at > 0 && this.items[at - 1]!.index > item.index) at--;
    this.items.splice(at, 0, item);
  }

  /** Removes and returns every item with index ≤ upTo, in index order. */
  takeUpTo(upTo: LogIndex): T[] {
    let count = 0;
    while (count < this.items.length && this.items[count]!.index <= upTo) count++;
    if (count === 0) return [];
    return this.items.splice(0, count);
  }

  /** Removes and returns every item with index > after, in index order. */
  takeAfter(after: LogIndex): T[] {
    let at = this.items.length;
    while (at > 0 && this.items[at - 1]!.index > after) at--;
    return this.items.splice(at);
  }

  remove(item: T): void {
    const at = this.items.indexOf(item);
    if (at >= 0) this.items.splice(at, 1);
  }

  takeAll(): T[] {
    const all = this.items;
    this.items = [];
    return all;
  }
}

export interface WriteWaiter<R> {
  readonly command: SessionCommand;
  readonly index: LogIndex;
  /** Its position in the batch entry at `index`. */
  readonly slot: number;
  readonly term: Term;
  readonly durability: 'sync' | 'async';
  readonly deferred: Deferred<R>;
  timer?: NodeJS.Timeout;
}

/**
 * Settles `target` with a TimeoutError after `timeoutMs`, or with the signal's reason when it
 * aborts, whichever comes first, calling `onExpire` so the caller can drop its bookkeeping. One
 * timer per request, cleared when the target settles: cheaper than an AbortSignal.timeout per
 * request, whose DOMException and events showed in the leader's profile.
 */
export function armDeadline<T>(
  clock: Clock,
  target: Deferred<T>,
  timeoutMs: number,
  what: string,
  signal: AbortSignal | undefined,
  onExpire: () => void,
): Promise<T> {
  let settled = false;
  const clear = (): void => {
    settled = true;
    clock.clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
  const expire = (error: unknown): void => {
    if (settled) return;
    clear();
    onExpire();
    target.reject(error);
  };
  const onAbort = (): void => expire(signal?.reason ?? new Error(`${what} was cancelled`));
  const timer = clock.setTimeout(() => expire(new TimeoutError(what, timeoutMs)), timeoutMs);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  target.promise.then(clear, clear);
  return target.promise;
}
