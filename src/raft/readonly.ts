/**
 * Linearizable reads (Raft dissertation §6.4, etcd's read_only.go): the leader records its
 * commit index for a request, attaches the request's context to a heartbeat round, and
 * releases the request once a quorum of voters answered that round. A later context acked
 * implies the earlier ones were too (answers arrive after the requests were queued), so
 * release is in queue order.
 *
 * A context names one request in the whole cluster (the runtime makes it unique across nodes and
 * restarts); the queue refuses a second request with a context it holds, and the core answers
 * that one (it never drops a read silently).
 */
import type { LogIndex, NodeId } from './types.js';

export interface ReadRequest {
  readonly index: LogIndex;
  /** NodeId of the node that asked (the leader itself for a local request). */
  readonly from: NodeId;
  readonly context: Uint8Array;
  readonly acks: Set<NodeId>;
}

export function contextKey(context: Uint8Array): string {
  let key = '';
  for (const byte of context) key += byte.toString(16).padStart(2, '0');
  return key;
}

export class ReadOnlyQueue {
  private readonly pending = new Map<string, ReadRequest>();
  private readonly queue: string[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** The node that asked for the pending request with this context, if one is pending. */
  originOf(context: Uint8Array): NodeId | undefined {
    return this.pending.get(contextKey(context))?.from;
  }

  /** Queues a request; false (and nothing queued) when its context is already pending. */
  add(index: LogIndex, from: NodeId, context: Uint8Array): boolean {
    const key = contextKey(context);
    if (this.pending.has(key)) return false;
    this.pending.set(key, { index, from, context, acks: new Set() });
    this.queue.push(key);
    return true;
  }

  /** Records that `from` answered the heartbeat carrying `context`; the acks so far. */
  recvAck(from: NodeId, context: Uint8Array): ReadonlySet<NodeId> | undefined {
    const request = this.pending.get(contextKey(context));
    if (request === undefined) return undefined;
    request.acks.add(from);
    return request.acks;
  }

  /** Removes and returns every request up to and including the one for `context`. */
  release(context: Uint8Array): ReadRequest[] {
    const key = contextKey(context);
    const position = this.queue.indexOf(key);
    if (position < 0) return [];
    const keys = this.queue.splice(0, position + 1);
    const released: ReadRequest[] = [];
    for (const k of keys) {
      const request = this.pending.get(k);
      this.pending.delete(k);
      if (request !== undefined) released.push(request);
    }
    return released;
  }

  lastContext(): Uint8Array | undefined {
    const key = this.queue.at(-1);
    return key === undefined ? undefined : this.pending.get(key)?.context;
  }

  /** Empties the queue, returning what was pending (to be reported as dropped). */
  clear(): ReadRequest[] {
    const all = this.queue.map((k) => this.pending.get(k)).filter((r): r is ReadRequest => r !== undefined);
    this.queue.length = 0;
    this.pending.clear();
    return all;
  }
}
