/**
 * One simulated node: a RaftCore, its sim disk, its key-value state machine and the loop that
 * handles each Ready in the contract's order (persist → send → apply → read states → advance).
 * A crash drops the core, the state machine and every waiter; only the disk survives.
 */
import type {
  ConfState,
  Entry,
  Message,
  NodeId,
  RaftInitialState,
  RaftNode,
  RaftOptions,
  Ready,
  Role,
  Snapshot,
} from '../../src/raft/index.js';
import { logIndex } from '../../src/raft/index.js';
import { SimDisk, StorageContractError } from './disk.js';
import type { InvariantChecker } from './invariants.js';
import { KvStateMachine } from './kv.js';
import type { TraceHasher } from './hash.js';

export type CoreFactory = (options: RaftOptions, initial: RaftInitialState) => RaftNode;

export type NodeState = 'up' | 'down' | 'paused' | 'retired';

/** A client write waiting for its entry to be applied on the node that accepted it. */
export interface WriteWaiter {
  readonly index: number;
  readonly term: number;
  /** ok: applied with the same term; failed: another entry took the index; unknown: can't tell. */
  settle(outcome: 'ok' | 'failed' | 'unknown'): void;
}

/** A client read waiting for its ReadState, then for applied ≥ its index. */
export interface ReadWaiter {
  readonly contextKey: string;
  readIndex: number | undefined;
  /** value: served at a safe index; failed: dropped, never served. */
  settle(outcome: { readonly value: string | null } | 'failed'): void;
  readonly key: string;
}

export interface NodeHooks {
  readonly checker: InvariantChecker;
  readonly trace: TraceHasher;
  /** Handing a message to the network (after snapshot data is attached). */
  send(message: Message): void;
  /** Whether to crash between the two IO phases of this Ready (a fault injection point). */
  crashMidReady(node: SimNode, ready: Ready): boolean;
  /** Every entry the node applied (after the state machine took it). */
  onApplied(node: SimNode, entry: Entry): void;
  /** The node just restored its state machine from a snapshot. */
  onSnapshotRestored(node: SimNode, index: number): void;
}

export interface SimNodeOptions {
  readonly id: NodeId;
  readonly bootstrapConfState: ConfState;
  /** Everything RaftOptions needs except id and random (given per incarnation). */
  readonly raft: Omit<RaftOptions, 'id' | 'random'>;
  /** Take a state-machine snapshot and compact when this many entries were applied since the last. */
  readonly compactEveryEntries: number;
  /**
   * Attach the state as applied now to outgoing snapshots (etcd's way); else the last stored
   * snapshot. @default true
   */
  readonly freshSnapshots?: boolean;
  /** The harness bug: send a Ready's messages before persisting it. */
  readonly sendBeforePersist: boolean;
  readonly createCore: CoreFactory;
  /** A fresh PRNG function per incarnation. */
  readonly randomFor: (incarnation: number) => () => number;
  /** Ready loops in one handling (a core that never runs out of Readys is a bug). @default 10_000 */
  readonly readyLoopsMax?: number;
}

const decoder = new TextDecoder();

export function contextKey(context: Uint8Array): string {
  return decoder.decode(context);
}

export class SimNode {
  readonly id: NodeId;
  readonly disk = new SimDisk();
  state: NodeState = 'down';
  incarnation = 0;
  role: Role = 'follower';
  core: RaftNode | undefined;
  sm: KvStateMachine;
  /** Snapshots installed from a leader, restarts, mid-Ready crashes (for stats). */
  snapshotsInstalled = 0;
  compactions = 0;
  private writeWaiters = new Map<number, WriteWaiter[]>();
  private readWaiters = new Map<string, ReadWaiter>();
  private readsAwaitingApply: ReadWaiter[] = [];

  constructor(
    private readonly options: SimNodeOptions,
    private readonly hooks: NodeHooks,
  ) {
    this.id = options.id;
    this.sm = new KvStateMachine(options.bootstrapConfState);
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** Starts (or restarts) the node from what its disk holds. */
  start(): void {
    if (this.state === 'up' || this.state === 'retired') {
      throw new Error(`node ${this.id}: start while ${this.state}`);
    }
    this.incarnation++;
    const image = this.disk.load();
    this.sm = new KvStateMachine(this.options.bootstrapConfState);
    if (image.snapshot !== undefined) {
      this.sm.restore(image.snapshot.data, image.snapshot.meta);
      this.hooks.checker.observeSnapshotRestored(this.id, image.snapshot.meta.index, this.sm.stateHash());
    }
    const applied = image.snapshot?.meta.index ?? logIndex(0);
    const initial: RaftInitialState = {
      hardState: image.hardState,
      entries: image.entries,
      bootstrapConfState: this.options.bootstrapConfState,
      applied,
      ...(image.snapshot !== undefined ? { snapshot: image.snapshot.meta } : {}),
    };
    const raft: RaftOptions = { ...this.options.raft, id: this.id, random: this.options.randomFor(this.incarnation) };
    this.core = this.options.createCore(raft, initial);
    this.role = 'follower';
    this.state = 'up';
  }

  /** Loses everything not on the disk; pending client operations learn nothing more. */
  crash(): void {
    if (this.state !== 'up' && this.state !== 'paused') return;
    this.core = undefined;
    this.state = 'down';
    this.role = 'follower';
    this.failAllWaiters();
  }

  /** Removed from the cluster for good (never restarted). */
  retire(): void {
    this.crash();
    this.state = 'retired';
  }

  addWriteWaiter(w: WriteWaiter): void {
    const list = this.writeWaiters.get(w.index);
    if (list === undefined) this.writeWaiters.set(w.index, [w]);
    else list.push(w);
  }

  removeWriteWaiter(w: WriteWaiter): void {
    const list = this.writeWaiters.get(w.index);
    if (list === undefined) return;
    const k = list.indexOf(w);
    if (k >= 0) list.splice(k, 1);
    if (list.length === 0) this.writeWaiters.delete(w.index);
  }

  addReadWaiter(r: ReadWaiter): void {
    this.readWaiters.set(r.contextKey, r);
  }

  removeReadWaiter(r: ReadWaiter): void {
    this.readWaiters.delete(r.contextKey);
    const k = this.readsAwaitingApply.indexOf(r);
    if (k >= 0) this.readsAwaitingApply.splice(k, 1);
  }

  /**
   * Handles every Ready the core has. Returns 'crashed' when the node crashed in the middle
   * (a fault injected between the two IO phases), 'changed' when a Ready carried a hard or
   * soft state (term, vote, commit or role moved), else 'quiet'.
   */
  handleReady(): 'crashed' | 'changed' | 'quiet' {
    const loopsMax = this.options.readyLoopsMax ?? 10_000;
    let changed = false;
    for (let loops = 0; this.core !== undefined && this.core.hasReady(); loops++) {
      if (loops >= loopsMax) throw new Error(`node ${this.id}: still ready after ${loopsMax} Ready loops`);
      const core = this.core;
      const rd = core.ready();
      this.hooks.trace.addReady(this.id, rd);
      if (rd.softState !== undefined) this.role = rd.softState.role;
      if (rd.softState !== undefined || rd.hardState !== undefined) changed = true;
      if (this.options.sendBeforePersist) {
        this.sendAll(rd.messages);
        if (this.hooks.crashMidReady(this, rd)) return this.crashNow();
        this.persist(rd);
      } else {
        this.persist(rd);
        if (this.hooks.crashMidReady(this, rd)) return this.crashNow();
        this.sendAll(rd.messages);
      }
      if (rd.snapshot !== undefined) this.restoreSnapshot(rd.snapshot);
      for (const e of rd.committed) this.applyEntry(e);
      this.takeReadStates(rd);
      core.advance(rd);
      this.maybeCompact(core);
    }
    return changed ? 'changed' : 'quiet';
  }

  private crashNow(): 'crashed' {
    this.crash();
    return 'crashed';
  }

  private persist(rd: Ready): void {
    if (rd.hardState === undefined && rd.entries.length === 0 && rd.snapshot === undefined) return;
    const batch = {
      entries: rd.entries,
      ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
      ...(rd.snapshot !== undefined ? { snapshotIndex: rd.snapshot.meta.index, snapshotTerm: rd.snapshot.meta.term } : {}),
    };
    this.hooks.checker.observePersist(this.id, this.role, batch, this.disk, this.disk.hardState);
    if (rd.snapshot !== undefined && rd.snapshot.data.length === 0) {
      throw new StorageContractError(`node ${this.id}: Ready snapshot at ${rd.snapshot.meta.index} has no data`);
    }
    this.disk.save({
      entries: rd.entries,
      ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
      ...(rd.snapshot !== undefined ? { snapshot: rd.snapshot } : {}),
    });
  }

  private sendAll(messages: readonly Message[]): void {
    for (const m of messages) {
      const out = m.type === 'snapshot' ? this.attachSnapshot(m) : m;
      this.hooks.checker.observeSent(out);
      this.hooks.send(out);
    }
  }

  /**
   * The core sends snapshot meta only; the runtime attaches a snapshot at an index ≥ meta's.
   * Like etcd's server (createMergedSnapshotMessage) we send the state as applied now, not the
   * last stored snapshot: a member added after that snapshot is not in its ConfState and would
   * refuse it, and if the cluster needs that member for a quorum nothing new ever gets applied
   * to take a newer one.
   */
  private attachSnapshot(m: Message): Message {
    const stored = this.disk.snapshot;
    const wanted = m.snapshot?.meta.index ?? 0;
    if (stored === undefined || stored.meta.index < wanted) {
      throw new StorageContractError(
        `node ${this.id}: core sends a snapshot at ${wanted} but the disk has ${stored?.meta.index ?? 'none'}`,
      );
    }
    if (this.options.freshSnapshots === false || this.sm.appliedIndex <= stored.meta.index) {
      return { ...m, snapshot: { meta: stored.meta, data: stored.data } };
    }
    const sm = this.sm;
    const snapshot: Snapshot = {
      meta: { index: sm.appliedIndex, term: sm.appliedTerm, confState: sm.confState },
      data: sm.snapshotData(),
    };
    return { ...m, snapshot };
  }

  private restoreSnapshot(snapshot: Snapshot): void {
    this.sm.restore(snapshot.data, snapshot.meta);
    this.snapshotsInstalled++;
    this.hooks.checker.observeSnapshotRestored(this.id, snapshot.meta.index, this.sm.stateHash());
    for (const [index, list] of [...this.writeWaiters]) {
      if (index > snapshot.meta.index) continue;
      this.writeWaiters.delete(index);
      for (const w of list) w.settle('unknown');
    }
    this.hooks.onSnapshotRestored(this, snapshot.meta.index);
    this.serveReads();
  }

  private applyEntry(e: Entry): void {
    this.sm.apply(e);
    this.hooks.checker.observeApplied(this.id, e, this.sm.stateHash());
    const list = this.writeWaiters.get(e.index);
    if (list !== undefined) {
      this.writeWaiters.delete(e.index);
      for (const w of list) w.settle(w.term === e.term ? 'ok' : 'failed');
    }
    this.hooks.onApplied(this, e);
  }

  private takeReadStates(rd: Ready): void {
    for (const rs of rd.readStates) {
      const waiter = this.readWaiters.get(contextKey(rs.context));
      if (waiter === undefined || waiter.readIndex !== undefined) continue;
      waiter.readIndex = rs.index;
      this.readsAwaitingApply.push(waiter);
    }
    for (const ctx of rd.droppedReads ?? []) {
      const waiter = this.readWaiters.get(contextKey(ctx));
      if (waiter === undefined || waiter.readIndex !== undefined) continue;
      this.readWaiters.delete(waiter.contextKey);
      waiter.settle('failed');
    }
    this.serveReads();
  }

  private serveReads(): void {
    if (this.readsAwaitingApply.length === 0) return;
    const still: ReadWaiter[] = [];
    for (const r of this.readsAwaitingApply) {
      if ((r.readIndex ?? Infinity) > this.sm.appliedIndex) {
        still.push(r);
        continue;
      }
      this.readWaiters.delete(r.contextKey);
      r.settle({ value: this.sm.get(r.key) ?? null });
    }
    this.readsAwaitingApply = still;
  }

  private maybeCompact(core: RaftNode): void {
    const applied = this.sm.appliedIndex;
    if (applied - this.disk.snapshotIndex < this.options.compactEveryEntries) return;
    if (applied > this.disk.lastIndex) return; // applied through a snapshot not yet followed by entries
    const meta = core.compact(applied);
    if (meta.index !== applied || meta.term !== this.sm.appliedTerm) {
      throw new StorageContractError(
        `node ${this.id}: compact(${applied}) returned meta (index ${meta.index}, term ${meta.term}), the state machine is at term ${this.sm.appliedTerm}`,
      );
    }
    this.disk.compact({ meta, data: this.sm.snapshotData() });
    this.compactions++;
  }

  private failAllWaiters(): void {
    const writes = [...this.writeWaiters.values()].flat();
    const reads = [...this.readWaiters.values()];
    this.writeWaiters = new Map();
    this.readWaiters = new Map();
    this.readsAwaitingApply = [];
    for (const w of writes) w.settle('unknown');
    for (const r of reads) r.settle('failed');
  }
}
