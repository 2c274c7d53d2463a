/**
 * A simulated network. Each message gets a delay in ticks (which also reorders), may be
 * dropped or duplicated, and is lost when a partition blocks its link at send or at delivery.
 * All randomness comes from the injected PRNG; nothing reads a clock.
 */
import type { Prng } from './prng.js';

export interface Addressed {
  readonly from: number;
  readonly to: number;
}

export interface NetworkOptions {
  /** Probability that a message is lost. @default 0 */
  readonly dropProb?: number;
  /** Probability that a message is delivered twice (each copy with its own delay). @default 0 */
  readonly dupProb?: number;
  /** @default 1 */
  readonly delayTicksMin?: number;
  /** @default 1 */
  readonly delayTicksMax?: number;
  /** Probability of a long delay (a message overtaken by many later ones). @default 0 */
  readonly spikeProb?: number;
  /** @default 20 */
  readonly spikeDelayTicksMax?: number;
  /** Messages in flight; beyond it new messages are dropped (a full socket buffer). @default 100_000 */
  readonly inFlightMessagesMax?: number;
}

type ResolvedOptions = Required<NetworkOptions>;

export function resolveNetworkOptions(options: NetworkOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = {
    dropProb: options.dropProb ?? 0,
    dupProb: options.dupProb ?? 0,
    delayTicksMin: options.delayTicksMin ?? 1,
    delayTicksMax: options.delayTicksMax ?? 1,
    spikeProb: options.spikeProb ?? 0,
    spikeDelayTicksMax: options.spikeDelayTicksMax ?? 20,
    inFlightMessagesMax: options.inFlightMessagesMax ?? 100_000,
  };
  for (const key of ['dropProb', 'dupProb', 'spikeProb'] as const) {
    const p = resolved[key];
    if (!(p >= 0 && p <= 1)) throw new RangeError(`network ${key} must be in [0, 1], got ${p}`);
  }
  if (!Number.isInteger(resolved.delayTicksMin) || resolved.delayTicksMin < 1) {
    throw new RangeError(`network delayTicksMin must be an integer ≥ 1, got ${resolved.delayTicksMin}`);
  }
  if (!(resolved.delayTicksMax >= resolved.delayTicksMin)) {
    throw new RangeError(
      `network delayTicksMax ${resolved.delayTicksMax} < delayTicksMin ${resolved.delayTicksMin}`,
    );
  }
  if (!(resolved.inFlightMessagesMax >= 1)) {
    throw new RangeError(`network inFlightMessagesMax must be ≥ 1, got ${resolved.inFlightMessagesMax}`);
  }
  return Object.freeze(resolved);
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  blocked: number;
  overflowed: number;
}

interface InFlight<M> {
  readonly message: M;
  readonly deliverAtTick: number;
  /** Random tie-break: messages due in the same tick arrive in random order. */
  readonly shuffleKey: number;
  readonly seq: number;
}

/** Why a message did not arrive (for the harness: e.g. reportSnapshot(peer, false)). */
export type LossReason = 'dropped' | 'blocked' | 'overflow';

export class SimNetwork<M extends Addressed> {
  private options: ResolvedOptions;
  private readonly heap: InFlight<M>[] = [];
  private seq = 0;
  /** Directed links that lose everything: key from * 65536 + to. */
  private readonly blockedLinks = new Set<number>();
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, blocked: 0, overflowed: 0 };
  /** Called for every message that will never arrive. */
  onLoss: ((message: M, reason: LossReason) => void) | undefined;

  constructor(
    private readonly rng: Prng,
    options: NetworkOptions = {},
  ) {
    this.options = resolveNetworkOptions(options);
  }

  get inFlight(): number {
    return this.heap.length;
  }

  /** Replaces the fault knobs (e.g. a reliable network for the liveness phase). */
  reconfigure(options: NetworkOptions): void {
    this.options = resolveNetworkOptions(options);
  }

  send(message: M, nowTick: number): void {
    this.stats.sent++;
    if (this.isBlocked(message.from, message.to)) {
      this.stats.blocked++;
      this.onLoss?.(message, 'blocked');
      return;
    }
    if (this.rng.chance(this.options.dropProb)) {
      this.stats.dropped++;
      this.onLoss?.(message, 'dropped');
      return;
    }
    this.enqueue(message, nowTick);
    if (this.rng.chance(this.options.dupProb)) {
      this.stats.duplicated++;
      this.enqueue(message, nowTick);
    }
  }

  /**
   * The next message due at or before `nowTick`, or undefined. A message whose link is blocked
   * by the time it arrives is lost (reported through onLoss) and skipped.
   */
  deliverDue(nowTick: number): M | undefined {
    for (let guard = this.heap.length; guard >= 0; guard--) {
      const top = this.heap[0];
      if (top === undefined || top.deliverAtTick > nowTick) return undefined;
      this.pop();
      if (this.isBlocked(top.message.from, top.message.to)) {
        this.stats.blocked++;
        this.onLoss?.(top.message, 'blocked');
        continue;
      }
      this.stats.delivered++;
      return top.message;
    }
    throw new Error(`SimNetwork.deliverDue: heap did not shrink (size ${this.heap.length})`);
  }

  /** Drops every message in flight to or from `node` (its connections died with it). */
  dropNode(node: number): void {
    const kept = this.heap.filter((f) => f.message.from !== node && f.message.to !== node);
    const lost = this.heap.length - kept.length;
    if (lost === 0) return;
    for (const f of this.heap) {
      if (f.message.from === node || f.message.to === node) this.onLoss?.(f.message, 'dropped');
    }
    this.stats.dropped += lost;
    this.heap.length = 0;
    for (const f of kept) this.push(f);
  }

  /** Symmetric partition: nodes in different groups cannot talk, both ways. */
  partition(groups: readonly (readonly number[])[]): void {
    for (let a = 0; a < groups.length; a++) {
      for (let b = 0; b < groups.length; b++) {
        if (a === b) continue;
        for (const x of groups[a] ?? []) for (const y of groups[b] ?? []) this.block(x, y);
      }
    }
  }

  /** One-way: `from` can no longer reach `to` (the other direction is unaffected). */
  block(from: number, to: number): void {
    this.blockedLinks.add(linkKey(from, to));
  }

  /** Removes every partition and blocked link. */
  heal(): void {
    this.blockedLinks.clear();
  }

  isBlocked(from: number, to: number): boolean {
    return this.blockedLinks.size > 0 && this.blockedLinks.has(linkKey(from, to));
  }

  get blockedLinkCount(): number {
    return this.blockedLinks.size;
  }

  private enqueue(message: M, nowTick: number): void {
    if (this.heap.length >= this.options.inFlightMessagesMax) {
      this.stats.overflowed++;
      this.onLoss?.(message, 'overflow');
      return;
    }
    const o = this.options;
    const delayTicks = this.rng.chance(o.spikeProb)
      ? this.rng.int(o.delayTicksMax, Math.max(o.delayTicksMax, o.spikeDelayTicksMax))
      : this.rng.int(o.delayTicksMin, o.delayTicksMax);
    this.push({ message, deliverAtTick: nowTick + delayTicks, shuffleKey: this.rng.nextU32(), seq: this.seq++ });
  }

  private push(item: InFlight<M>): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, h[parent] as InFlight<M>)) break;
      h[i] = h[parent] as InFlight<M>;
      i = parent;
    }
    h[i] = item;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as InFlight<M>;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && before(h[r] as InFlight<M>, h[l] as InFlight<M>) ? r : l;
      if (!before(h[child] as InFlight<M>, last)) break;
      h[i] = h[child] as InFlight<M>;
      i = child;
    }
    h[i] = last;
  }
}

function linkKey(from: number, to: number): number {
  return from * 65536 + to;
}

function before<M>(a: InFlight<M>, b: InFlight<M>): boolean {
  if (a.deliverAtTick !== b.deliverAtTick) return a.deliverAtTick < b.deliverAtTick;
  if (a.shuffleKey !== b.shuffleKey) return a.shuffleKey < b.shuffleKey;
  return a.seq < b.seq;
}
