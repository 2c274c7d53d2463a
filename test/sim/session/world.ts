/**
 * The simulated world the real SessionNode runs in: one virtual clock (timers per node, so a
 * crashed or paused node's timers stop), a seeded network between per-node transports, and
 * the in-memory storage whose disk survives crashes (and can lose what was never synced).
 * Nothing here reads a real clock or sets a real timer; async work is drained with
 * setImmediate after each event, which runs every promise chain of the nodes to quiescence.
 */
import type { Message, NodeId } from '../../../src/raft/index.js';
import type { Clock, NodeTransport, TimerHandle } from '../../../src/node/index.js';
import type { SnapshotStore } from '../../../src/storage/index.js';
import type { SimNetwork } from '../network.js';

export class VirtualTime {
  nowMs = 0;
}

interface SimTimer {
  readonly id: number;
  dueMs: number;
  readonly intervalMs: number | undefined;
  readonly callback: () => void;
}

/** A node's view of the virtual clock. Its timers fire only when the world advances them. */
export class SimClock implements Clock {
  private readonly timers = new Map<number, SimTimer>();
  private nextId = 1;
  /** A crashed node's clock: its timers never fire again. */
  dead = false;

  constructor(private readonly time: VirtualTime) {}

  nowMs(): number {
    return this.time.nowMs;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return this.add(callback, delayMs, undefined);
  }

  setInterval(callback: () => void, intervalMs: number): TimerHandle {
    return this.add(callback, intervalMs, intervalMs);
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.timers.delete(handle as unknown as number);
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  /** Fires every timer due by now, earliest first (ties by creation). */
  fireDue(): void {
    if (this.dead) return;
    for (let guard = 0; guard < 10_000; guard++) {
      let next: SimTimer | undefined;
      for (const timer of this.timers.values()) {
        if (timer.dueMs <= this.time.nowMs && (next === undefined || timer.dueMs < next.dueMs || (timer.dueMs === next.dueMs && timer.id < next.id))) next = timer;
      }
      if (next === undefined) return;
      if (next.intervalMs === undefined) this.timers.delete(next.id);
      else next.dueMs += next.intervalMs;
      next.callback();
      if (this.dead) return;
    }
    throw new Error('SimClock: more than 10,000 timers due at once');
  }

  private add(callback: () => void, delayMs: number, intervalMs: number | undefined): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, dueMs: this.time.nowMs + Math.max(1, delayMs), intervalMs, callback });
    return id as unknown as TimerHandle;
  }
}

export interface Envelope {
  readonly from: number;
  readonly to: number;
  readonly message: Message;
}

/**
 * A node's transport: sends go into the shared network; the world delivers what is due. A
 * snapshot travels as the gRPC transport carries it, through the nodes' snapshot stores: the
 * sender reads its stored snapshot in chunks (the envelope then holds the data: the simulated
 * network keeps it in memory), the receiver writes it to a writer of its store, stages it and
 * delivers the message with empty data.
 */
export class SimTransport implements NodeTransport {
  private messageHandler: ((message: Message) => void) | undefined;
  private snapshotStatusHandler: ((peer: NodeId, ok: boolean) => void) | undefined;
  private snapshots: SnapshotStore | undefined;
  closed = false;

  constructor(
    private readonly id: number,
    private readonly network: SimNetwork<Envelope>,
    private readonly time: { readonly tick: number },
  ) {}

  /** The simulated network routes by node id: addresses play no part. */
  addPeer(): void {}
  removePeer(): void {}

  useSnapshots(store: SnapshotStore): void {
    this.snapshots = store;
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    for (const message of messages) {
      if (message.type === 'snapshot') void this.sendSnapshot(message);
      else this.network.send({ from: this.id, to: message.to, message }, this.time.tick);
    }
  }

  private async sendSnapshot(message: Message): Promise<void> {
    try {
      await this.sendSnapshotNow(message);
    } catch {
      // The stored snapshot was replaced while it was read: lost, as a failed transfer.
      if (!this.closed) this.snapshotStatusHandler?.(message.to, false);
    }
  }

  private async sendSnapshotNow(message: Message): Promise<void> {
    const store = this.snapshots;
    const info = await store?.latestInfo();
    if (this.closed) return;
    if (store === undefined || info === undefined || message.snapshot === undefined || info.meta.index < message.snapshot.meta.index) {
      this.snapshotStatusHandler?.(message.to, false);
      return;
    }
    const chunks: Uint8Array[] = [];
    for await (const chunk of store.readChunks(info, 4096)) chunks.push(chunk);
    if (this.closed) return;
    const data = Buffer.concat(chunks);
    this.network.send({ from: this.id, to: message.to, message: { ...message, snapshot: { meta: info.meta, data } } }, this.time.tick);
  }

  onMessage(handler: (message: Message) => void): void {
    this.messageHandler = handler;
  }

  onUnreachable(): void {
    // Loss is silent here, as on a real network; the core probes on its own schedule.
  }

  onSnapshotStatus(handler: (peer: NodeId, ok: boolean) => void): void {
    this.snapshotStatusHandler = handler;
  }

  close(): void {
    this.closed = true;
  }

  deliver(message: Message): void {
    if (this.closed) return;
    const snapshot = message.snapshot;
    if (message.type !== 'snapshot' || snapshot === undefined || this.snapshots === undefined) {
      this.messageHandler?.(message);
      return;
    }
    const store = this.snapshots;
    void (async () => {
      const writer = store.create();
      for (let at = 0; at < snapshot.data.length; at += 4096) await writer.write(snapshot.data.subarray(at, at + 4096));
      if (this.closed) return void writer.abort();
      store.stage(snapshot.meta, writer);
      this.messageHandler?.({ ...message, snapshot: { meta: snapshot.meta, data: new Uint8Array(0) } });
    })();
  }

  snapshotStatus(peer: number, ok: boolean): void {
    if (!this.closed) this.snapshotStatusHandler?.(peer as NodeId, ok);
  }
}

/** Runs every promise chain (and setImmediate slice) the nodes started, to quiescence. */
export async function drain(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
