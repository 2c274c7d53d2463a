/**
 * Linearizable reads, batched: every read that arrives in one loop turn shares one ReadIndex
 * request. A request's context names it in the whole cluster and across restarts (this node's
 * id, a random nonce of this process, and a counter), because the leader refuses a context it
 * already holds from another node. A batch records this node's clock when it asked: the time
 * its reads judge expiry at (see SessionNode.read).
 */
import { contextKey, type LogIndex } from '../raft/index.js';
import { invariant } from './invariant.js';

/** A linearizable read waiting for its read index. */
export interface ReadIndexWaiter {
  /** `readTimeMs`: this node's clock when the read index was asked for; expiry is judged at it. */
  proceed(readIndex: LogIndex, readTimeMs: number): void;
  fail(error: Error): void;
}

interface ReadBatch {
  readonly reads: ReadIndexWaiter[];
  readonly readTimeMs: number;
}

const encoder = new TextEncoder();

export class ReadBatches {
  /** Reads that arrived since the last batch was asked for. */
  private arrived: ReadIndexWaiter[] = [];
  /** Batches asked for and not answered yet, by context. */
  private readonly asked = new Map<string, ReadBatch>();
  private seq = 0;

  /** `contextPrefix` must be unique to this node and process. */
  constructor(private readonly contextPrefix: string) {}

  /** Reads not yet in an asked batch (they count against pendingReadsMax). */
  get waiting(): number {
    return this.arrived.length;
  }

  add(read: ReadIndexWaiter): void {
    this.arrived.push(read);
  }

  /** Groups the reads that arrived into one batch; its context to ask a read index for. */
  takeBatch(nowMs: number): Uint8Array | undefined {
    if (this.arrived.length === 0) return undefined;
    const context = encoder.encode(`${this.contextPrefix}${this.seq++}`);
    const key = contextKey(context);
    invariant(!this.asked.has(key), () => `read context ${key} is already in use`);
    this.asked.set(key, { reads: this.arrived, readTimeMs: nowMs });
    this.arrived = [];
    return context;
  }

  /** The core answered the batch with its read index. */
  release(context: Uint8Array, index: LogIndex): void {
    const batch = this.take(context);
    for (const read of batch?.reads ?? []) read.proceed(index, batch!.readTimeMs);
  }

  /** The core dropped the batch (no leader, refused): its reads fail fast. */
  fail(context: Uint8Array, error: Error): void {
    for (const read of this.take(context)?.reads ?? []) read.fail(error);
  }

  failAll(error: Error): void {
    for (const read of this.arrived) read.fail(error);
    this.arrived = [];
    for (const batch of this.asked.values()) for (const read of batch.reads) read.fail(error);
    this.asked.clear();
  }

  private take(context: Uint8Array): ReadBatch | undefined {
    const key = contextKey(context);
    const batch = this.asked.get(key);
    this.asked.delete(key);
    return batch;
  }
}
