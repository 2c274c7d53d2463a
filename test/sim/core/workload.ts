/**
 * Simulated clients. Each has at most one operation in flight: a put or delete proposed on the
 * node it believes is the leader (acknowledged when that node applies the entry at the returned
 * index with the returned term), or a get through ReadIndex (served once the node applied the
 * read index). Every operation goes into the History with its call and return instants.
 *
 * The nodes keep no key-value state: a get answers what the committed log says the key holds at
 * the index the node had applied when it served the read (CommittedValues). State Machine Safety
 * (checked on every apply) makes that one answer for every node.
 */
import type { Entry, ProposeResult } from '../../../src/raft/index.js';
import type { CoreNode, ReadWaiter, WriteWaiter } from './core-node.js';
import type { History, KvInput, RecordedOp } from './history.js';
import type { Prng } from '../prng.js';

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string; readonly id: string }
  | { readonly op: 'del'; readonly key: string; readonly id: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(command: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const parsed = JSON.parse(decoder.decode(data)) as KvCommand;
  if ((parsed.op !== 'put' && parsed.op !== 'del') || typeof parsed.key !== 'string') {
    throw new Error(`not a kv command: ${decoder.decode(data)}`);
  }
  return parsed;
}

/**
 * What each key holds at each index of the committed log, from the entries as they are first
 * applied anywhere (in index order: whoever applies an index first applied, or restored a
 * snapshot of, everything before it).
 */
export class CommittedValues {
  private appliedMax = 0;
  /** Per key, its writes in index order. */
  private readonly writes = new Map<string, { readonly index: number; readonly value: string | null }[]>();

  /** An entry some node applied (again, or for the first time). */
  record(entry: Entry): void {
    if (entry.index <= this.appliedMax) return;
    if (entry.index !== this.appliedMax + 1) throw new Error(`entry ${entry.index} applied first, after only ${this.appliedMax}`);
    this.appliedMax = entry.index;
    if (entry.type !== 'normal' || entry.data.length === 0) return;
    const command = decodeCommand(entry.data);
    const list = this.writes.get(command.key) ?? [];
    list.push({ index: entry.index, value: command.op === 'put' ? command.value : null });
    this.writes.set(command.key, list);
  }

  /** The key's value once the log up to `index` is applied (null: absent). */
  valueAt(key: string, index: number): string | null {
    if (index > this.appliedMax) throw new Error(`value of ${key} at ${index}, beyond the applied log (${this.appliedMax})`);
    const list = this.writes.get(key) ?? [];
    for (let k = list.length - 1; k >= 0; k--) if (list[k]!.index <= index) return list[k]!.value;
    return null;
  }
}

export interface WorkloadPlan {
  readonly clients: number;
  readonly keys: number;
  readonly readShare: number;
  readonly deleteShare: number;
  readonly thinkTicks: readonly [number, number];
  readonly timeoutTicks: number;
}

/** What the workload needs from the cluster. */
export interface ClusterAccess {
  readonly tick: number;
  /** Nodes a client can reach (up, not paused), in id order. */
  reachableNodes(): CoreNode[];
  nodeById(id: number): CoreNode | undefined;
  /** Runs `input` on the node's core and then handles its Readys (the node loop). */
  input(node: CoreNode, input: () => void): Promise<void>;
  /** What the committed log says `key` holds once applied up to `index`. */
  valueAt(key: string, index: number): string | null;
}

interface Pending {
  readonly op: RecordedOp;
  readonly node: CoreNode;
  readonly deadlineTick: number;
  readonly write?: WriteWaiter;
  readonly read?: ReadWaiter;
  /** For writes: where the entry went (the liveness probe reads it). */
  proposed?: { index: number; term: number };
}

interface Client {
  readonly id: number;
  pending: Pending | undefined;
  nextTick: number;
  leaderGuess: number;
  seq: number;
}

export class Workload {
  private readonly clients: Client[] = [];
  /** Ops issued, refused at once (not leader...), timed out. */
  readonly stats = { issued: 0, refused: 0, timedOut: 0 };
  enabled = true;

  constructor(
    private readonly rng: Prng,
    private readonly plan: WorkloadPlan,
    private readonly history: History,
    private readonly cluster: ClusterAccess,
  ) {
    if (!(plan.clients >= 1 && plan.keys >= 1 && plan.timeoutTicks >= 1)) {
      throw new RangeError(`workload plan needs clients, keys, timeoutTicks ≥ 1: ${JSON.stringify(plan)}`);
    }
    for (let id = 0; id < plan.clients; id++) {
      this.clients.push({ id, pending: undefined, nextTick: 0, leaderGuess: 0, seq: 0 });
    }
  }

  /** One tick: time out what is overdue, start new operations for idle clients. */
  async step(): Promise<void> {
    const tick = this.cluster.tick;
    for (const c of this.clients) {
      if (c.pending !== undefined && tick >= c.pending.deadlineTick) this.timeOut(c);
      if (this.enabled && c.pending === undefined && tick >= c.nextTick) await this.issue(c);
    }
  }

  /** True when no client has an operation in flight. */
  get idle(): boolean {
    return this.clients.every((c) => c.pending === undefined);
  }

  /**
   * Proposes one put on `node` outside the random workload (the liveness probe) and calls
   * `done` with the outcome; the operation is recorded like any other.
   */
  async probeWrite(clientId: number, node: CoreNode, key: string, value: string, done: (ok: boolean, index: number) => void): Promise<void> {
    const client: Client = { id: clientId, pending: undefined, nextTick: 0, leaderGuess: node.id, seq: 0 };
    await this.write(client, node, { op: 'put', key, value }, (outcome, index) => done(outcome === 'ok', index));
  }

  private async issue(c: Client): Promise<void> {
    const node = this.pickNode(c);
    if (node === undefined) return;
    const key = `k${this.rng.int(0, this.plan.keys - 1)}`;
    const r = this.rng.float();
    c.seq++;
    this.stats.issued++;
    if (r < this.plan.readShare) await this.read(c, node, key);
    else if (r < this.plan.readShare + this.plan.deleteShare) await this.write(c, node, { op: 'del', key });
    else await this.write(c, node, { op: 'put', key, value: `c${c.id}.${c.seq}` });
  }

  private pickNode(c: Client): CoreNode | undefined {
    const guess = this.cluster.nodeById(c.leaderGuess);
    if (guess !== undefined && guess.up) return guess;
    const reachable = this.cluster.reachableNodes();
    return reachable.length === 0 ? undefined : this.rng.pick(reachable);
  }

  private async write(
    c: Client,
    node: CoreNode,
    input: Extract<KvInput, { op: 'put' | 'del' }>,
    onSettled?: (outcome: 'ok' | 'failed' | 'unknown', index: number) => void,
  ): Promise<void> {
    const op = this.history.begin(c.id, input, this.cluster.tick);
    const id = `${c.id}.${c.seq}.${op.id}`;
    const data = encodeCommand(input.op === 'put' ? { op: 'put', key: input.key, value: input.value, id } : { op: 'del', key: input.key, id });
    let result: ProposeResult | undefined;
    await this.cluster.input(node, () => {
      const core = node.core;
      if (core === undefined) return;
      result = core.propose(data);
      if (!result.ok) return;
      const { index, term } = result;
      const waiter: WriteWaiter = {
        index,
        term,
        settle: (outcome) => {
          if (c.pending?.write !== waiter) return;
          this.finish(c, op, outcome, { done: true });
          onSettled?.(outcome, index);
        },
      };
      node.addWriteWaiter(waiter);
      c.pending = { op, node, deadlineTick: this.cluster.tick + this.plan.timeoutTicks, write: waiter, proposed: { index, term } };
    });
    if (result === undefined || !result.ok) {
      // Refused (or the node could not take input): nothing entered the log.
      this.stats.refused++;
      this.history.failed(op);
      c.leaderGuess = result !== undefined && !result.ok ? result.leader : 0;
      c.nextTick = this.cluster.tick + 1;
      onSettled?.('failed', 0);
    }
  }

  private async read(c: Client, node: CoreNode, key: string): Promise<void> {
    const op = this.history.begin(c.id, { op: 'get', key }, this.cluster.tick);
    const contextKey = `r${c.id}.${c.seq}.${op.id}`;
    const waiter: ReadWaiter = {
      contextKey,
      readIndex: undefined,
      settle: (outcome) => {
        if (c.pending?.read !== waiter) return;
        if (outcome === 'failed') this.finish(c, op, 'failed', undefined);
        else this.finish(c, op, 'ok', { value: this.cluster.valueAt(key, outcome.appliedIndex) });
      },
    };
    c.pending = { op, node, deadlineTick: this.cluster.tick + this.plan.timeoutTicks, read: waiter };
    node.addReadWaiter(waiter);
    await this.cluster.input(node, () => node.core?.readIndex(encoder.encode(contextKey)));
  }

  private finish(c: Client, op: RecordedOp, outcome: 'ok' | 'failed' | 'unknown', output: RecordedOp['output']): void {
    c.pending = undefined;
    if (outcome === 'ok') this.history.ok(op, output ?? { done: true }, this.cluster.tick);
    else if (outcome === 'failed') this.history.failed(op);
    else this.history.unknown(op);
    if (outcome !== 'ok') c.leaderGuess = 0;
    const [lo, hi] = this.plan.thinkTicks;
    c.nextTick = this.cluster.tick + this.rng.int(lo, hi);
  }

  private timeOut(c: Client): void {
    const p = c.pending;
    if (p === undefined) return;
    this.stats.timedOut++;
    if (p.write !== undefined) {
      p.node.removeWriteWaiter(p.write);
      this.finish(c, p.op, 'unknown', undefined);
    } else if (p.read !== undefined) {
      p.node.removeReadWaiter(p.read);
      this.finish(c, p.op, 'failed', undefined);
    }
  }
}
