/**
 * One node of the core simulation: a bare RaftCore over the in-memory storage of src/storage
 * (the stores the real node's simulation uses, with their contract checks), driven by the
 * smallest loop the Ready contract allows: persist → send → apply → read states → advance. It
 * is here for what needs a view inside the core (log-level invariants, the core's planted bugs,
 * membership on the core); the node that ships runs in test/sim/session.
 *
 * Its state machine is a fingerprint of the applied log (a hash chain, plus the configuration),
 * kept in the state store with the applied index, so snapshots, installs and restarts have a
 * state to carry and to compare. What a key holds at an index is the harness's to know
 * (workload.ts reads it off the committed log). A crash drops the core, the state and every
 * waiter; the storage keeps what was written.
 */
import type {
  ConfState,
  Entry,
  HardState,
  LogIndex,
  Message,
  NodeId,
  RaftInitialState,
  RaftNode,
  RaftOptions,
  Ready,
  Role,
  Snapshot,
  SnapshotMeta,
  Term,
} from '../../../src/raft/index.js';
import { applyConfChange, decodeConfChange, logIndex, term } from '../../../src/raft/index.js';
import { createMemoryStorage, type LoadedLog, type LogUpdate, type MemoryStorage } from '../../../src/storage/index.js';
import type { TraceHasher } from './hash.js';
import { hashBytes } from './hash.js';
import type { InvariantChecker, LogView } from './invariants.js';

export type CoreFactory = (options: RaftOptions, initial: RaftInitialState) => RaftNode;

export type NodeState = 'up' | 'down' | 'paused' | 'retired';

/** The storage refused a write: the Ready broke the storage contract (a hole, a truncated commit...). */
export class StorageContractError extends Error {
  override readonly name = 'StorageContractError';
}

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
  /** served: at this node's applied index (≥ the read index); failed: dropped, never served. */
  settle(outcome: { readonly appliedIndex: number } | 'failed'): void;
}

export interface NodeHooks {
  readonly checker: InvariantChecker;
  readonly trace: TraceHasher;
  /** Handing a message to the network (after snapshot data is attached). */
  send(message: Message): void;
  /** Whether to crash between the two IO phases of this Ready (a fault injection point). */
  crashMidReady(node: CoreNode, ready: Ready): boolean;
  /** Every entry the node applied (after its state took it). */
  onApplied(node: CoreNode, entry: Entry): void;
  /** The node just replaced its state with a received snapshot. */
  onSnapshotRestored(node: CoreNode, index: number): void;
}

export interface CoreNodeOptions {
  readonly id: NodeId;
  readonly bootstrapConfState: ConfState;
  /** Everything RaftOptions needs except id and random (given per incarnation). */
  readonly raft: Omit<RaftOptions, 'id' | 'random'>;
  /** Take a snapshot and compact when this many entries were applied since the last. */
  readonly compactEveryEntries: number;
  /** The harness bug: send a Ready's messages before persisting it. */
  readonly sendBeforePersist: boolean;
  readonly createCore: CoreFactory;
  /** A fresh PRNG function per incarnation. */
  readonly randomFor: (incarnation: number) => () => number;
  /** Ready loops in one handling (a core that never runs out of Readys is a bug). @default 10_000 */
  readonly readyLoopsMax?: number;
}

/** The state store's one key: the encoded AppliedLog. */
const STATE_KEY = 'sim/applied-log';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const HEADER_BYTES = 24;
/** The previous link and the entry's hash, hashed into the next link. */
const CHAIN = new Float64Array(2);
const CHAIN_BYTES = new Uint8Array(CHAIN.buffer);

/** The node's state machine: where the applied log got to, and a fingerprint of it. */
export class AppliedLog {
  constructor(
    public index: LogIndex,
    public term: Term,
    public confState: ConfState,
    /** A hash chain over every applied entry (53 bits). */
    public fingerprint = 0,
  ) {}

  /** Equal on two nodes at one index exactly when they applied the same entries. */
  get hash(): string {
    return `${this.index}:${this.fingerprint.toString(16)}`;
  }

  apply(entry: Entry): void {
    if (entry.index !== this.index + 1) throw new Error(`apply out of order: entry ${entry.index} after applied ${this.index}`);
    this.index = entry.index;
    this.term = entry.term;
    CHAIN[0] = this.fingerprint;
    CHAIN[1] = hashBytes(entry.data, entry.type === 'normal' ? entry.term : -entry.term);
    this.fingerprint = hashBytes(CHAIN_BYTES, entry.index);
    if (entry.type === 'confChange') this.confState = applyConfChange(this.confState, decodeConfChange(entry.data));
  }

  /** Index, term and fingerprint (three float64), then the configuration as JSON (encoded once per configuration). */
  encode(): Uint8Array {
    if (this.confJson?.conf !== this.confState) this.confJson = { conf: this.confState, bytes: encoder.encode(JSON.stringify(this.confState)) };
    const out = new Uint8Array(HEADER_BYTES + this.confJson.bytes.length);
    const view = new DataView(out.buffer);
    view.setFloat64(0, this.index);
    view.setFloat64(8, this.term);
    view.setFloat64(16, this.fingerprint);
    out.set(this.confJson.bytes, HEADER_BYTES);
    return out;
  }

  static decode(data: Uint8Array, meta?: SnapshotMeta): AppliedLog {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const index = view.getFloat64(0);
    if (meta !== undefined && index !== meta.index) throw new Error(`snapshot data at ${index} but its meta says ${meta.index}`);
    const confState = meta?.confState ?? (JSON.parse(decoder.decode(data.subarray(HEADER_BYTES))) as ConfState);
    return new AppliedLog(logIndex(index), term(view.getFloat64(8)), confState, view.getFloat64(16));
  }

  private confJson: { readonly conf: ConfState; readonly bytes: Uint8Array } | undefined;
}

/**
 * The terms of the node's stored log, kept beside the storage for the invariant checker, which
 * needs the log as it was before each write, synchronously (the stores are async and copy every
 * entry on load). It follows the log store's rules (src/storage/log-plan.ts); a restart rebuilds
 * it from what the store loads and checks that the two agree.
 */
export class StoredLogTerms implements LogView {
  snapshotIndex: LogIndex = logIndex(0);
  private snapshotTerm: Term = term(0);
  /** terms[k] is the term of entry snapshotIndex + 1 + k. */
  private terms: Term[] = [];
  hardState: HardState = { term: term(0), vote: 0 as NodeId, commit: logIndex(0) };

  static loaded(log: LoadedLog): StoredLogTerms {
    const view = new StoredLogTerms();
    view.hardState = log.hardState;
    if (log.snapshot !== undefined) view.resetTo(log.snapshot);
    view.terms = log.entries.map((e) => e.term);
    return view;
  }

  get lastIndex(): LogIndex {
    return logIndex(this.snapshotIndex + this.terms.length);
  }

  termAt(index: number): Term | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    return index > this.snapshotIndex ? this.terms[index - this.snapshotIndex - 1] : undefined;
  }

  /** An installed snapshot keeps the suffix after it only if the entry at its index matches. */
  save(update: LogUpdate): void {
    const snap = update.snapshot;
    if (snap !== undefined) {
      const keep = this.termAt(snap.index) === snap.term ? this.terms.slice(snap.index - this.snapshotIndex) : [];
      this.resetTo(snap);
      this.terms = keep;
    }
    const first = update.entries[0];
    if (first !== undefined) {
      this.terms.length = first.index - this.snapshotIndex - 1;
      for (const e of update.entries) this.terms.push(e.term);
    }
    if (update.hardState !== undefined) this.hardState = update.hardState;
  }

  compact(meta: SnapshotMeta): void {
    if (meta.index <= this.snapshotIndex) return;
    this.terms = this.terms.slice(meta.index - this.snapshotIndex);
    this.resetTo(meta);
  }

  /** What differs from `other` (empty when they agree). */
  differences(other: StoredLogTerms): string {
    const mine = JSON.stringify([this.snapshotIndex, this.snapshotTerm, this.terms, this.hardState]);
    const theirs = JSON.stringify([other.snapshotIndex, other.snapshotTerm, other.terms, other.hardState]);
    return mine === theirs ? '' : `${mine} vs the store's ${theirs}`;
  }

  private resetTo(meta: SnapshotMeta): void {
    this.snapshotIndex = meta.index;
    this.snapshotTerm = meta.term;
  }
}

export class CoreNode {
  readonly id: NodeId;
  storage: MemoryStorage = createMemoryStorage();
  state: NodeState = 'down';
  incarnation = 0;
  role: Role = 'follower';
  core: RaftNode | undefined;
  applied: AppliedLog;
  /** The stored log's terms (what the invariant checker reads). */
  log = new StoredLogTerms();
  snapshotsInstalled = 0;
  compactions = 0;
  private writeWaiters = new Map<number, WriteWaiter[]>();
  private readWaiters = new Map<string, ReadWaiter>();
  private readsAwaitingApply: ReadWaiter[] = [];

  constructor(
    private readonly options: CoreNodeOptions,
    private readonly hooks: NodeHooks,
  ) {
    this.id = options.id;
    this.applied = new AppliedLog(logIndex(0), term(0), options.bootstrapConfState);
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /**
   * Starts (or restarts) the node from its storage. A received snapshot is stored file, log,
   * state (see handleReady): a crash after the log and before the state leaves the state behind,
   * and the install is finished here; a file the log does not point at is ignored.
   */
  async start(): Promise<void> {
    if (this.state === 'up' || this.state === 'retired') throw new Error(`node ${this.id}: start while ${this.state}`);
    this.incarnation++;
    const log = await this.storage.log.load();
    const file = await this.storage.snapshots.latest();
    const appliedIndex = await this.storage.state.appliedIndex();
    if (file !== undefined && file.meta.index > appliedIndex && log.snapshot?.index === file.meta.index) {
      this.applied = AppliedLog.decode(file.data, file.meta);
      await this.storage.state.replaceAll([[STATE_KEY, file.data]], file.meta.index);
    } else {
      this.applied = await this.storedState();
    }
    this.hooks.checker.observeSnapshotRestored(this.id, this.applied.index, this.applied.hash);
    const loaded = StoredLogTerms.loaded(log);
    const drift = this.incarnation > 1 ? loaded.differences(this.log) : '';
    if (drift !== '') throw new Error(`node ${this.id}: the harness's view of the stored log drifted: ${drift}`);
    this.log = loaded;
    const initial: RaftInitialState = {
      hardState: log.hardState,
      entries: log.entries,
      bootstrapConfState: this.options.bootstrapConfState,
      applied: this.applied.index,
      ...(log.snapshot !== undefined ? { snapshot: log.snapshot } : {}),
    };
    const raft: RaftOptions = { ...this.options.raft, id: this.id, random: this.options.randomFor(this.incarnation) };
    this.core = this.options.createCore(raft, initial);
    this.role = 'follower';
    this.state = 'up';
  }

  /** Loses everything but the storage; pending client operations learn nothing more. */
  crash(): void {
    if (this.state !== 'up' && this.state !== 'paused') return;
    this.core = undefined;
    this.state = 'down';
    this.role = 'follower';
    this.storage = this.storage.restart();
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
  async handleReady(): Promise<'crashed' | 'changed' | 'quiet'> {
    const loopsMax = this.options.readyLoopsMax ?? 10_000;
    let changed = false;
    for (let loops = 0; this.core !== undefined && this.core.hasReady(); loops++) {
      if (loops >= loopsMax) throw new Error(`node ${this.id}: still ready after ${loopsMax} Ready loops`);
      const core = this.core;
      const rd = core.ready();
      this.hooks.trace.addReady(this.id, rd);
      if (rd.softState !== undefined) this.role = rd.softState.role;
      if (rd.softState !== undefined || rd.hardState !== undefined) changed = true;
      // The crash point sits between the two IO phases, in whichever order they run. (Awaits
      // only where there is IO: most Readys carry messages alone, and each await costs a turn.)
      const persists = rd.hardState !== undefined || rd.entries.length > 0 || rd.snapshot !== undefined;
      if (this.options.sendBeforePersist) this.sendAll(rd.messages);
      else if (persists) await this.persist(rd);
      if (this.hooks.crashMidReady(this, rd)) {
        this.crash();
        return 'crashed';
      }
      if (!this.options.sendBeforePersist) this.sendAll(rd.messages);
      else if (persists) await this.persist(rd);
      if (rd.snapshot !== undefined) await this.installSnapshot(rd.snapshot);
      if (rd.committed.length > 0) await this.apply(rd.committed);
      this.takeReadStates(rd);
      core.advance(rd);
      if (this.compactionDue()) await this.compact(core);
    }
    return changed ? 'changed' : 'quiet';
  }

  /** A received snapshot's file first, then the log (entries, hard state, the snapshot meta). */
  private async persist(rd: Ready): Promise<void> {
    this.hooks.checker.observePersist(
      this.id,
      this.role,
      {
        entries: rd.entries,
        ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
        ...(rd.snapshot !== undefined ? { snapshotIndex: rd.snapshot.meta.index, snapshotTerm: rd.snapshot.meta.term } : {}),
      },
      this.log,
      this.log.hardState,
    );
    const update: LogUpdate = {
      entries: rd.entries,
      ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
      ...(rd.snapshot !== undefined ? { snapshot: rd.snapshot.meta } : {}),
    };
    await this.storageWrite(async () => {
      if (rd.snapshot !== undefined) await this.storage.snapshots.save(rd.snapshot.meta, rd.snapshot.data);
      await this.storage.log.save(update);
    });
    this.log.save(update);
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
    const wanted = m.snapshot?.meta.index ?? 0;
    if (this.log.snapshotIndex < wanted) {
      throw new StorageContractError(`node ${this.id}: core sends a snapshot at ${wanted} but the last stored is at ${this.log.snapshotIndex}`);
    }
    const applied = this.applied;
    const snapshot: Snapshot = { meta: { index: applied.index, term: applied.term, confState: applied.confState }, data: applied.encode() };
    return { ...m, snapshot };
  }

  /** The state after the log that points at it (the file is on disk already). */
  private async installSnapshot(snapshot: Snapshot): Promise<void> {
    this.applied = AppliedLog.decode(snapshot.data, snapshot.meta);
    await this.storageWrite(() => this.storage.state.replaceAll([[STATE_KEY, snapshot.data]], snapshot.meta.index));
    this.snapshotsInstalled++;
    this.hooks.checker.observeSnapshotRestored(this.id, snapshot.meta.index, this.applied.hash);
    for (const [index, list] of [...this.writeWaiters]) {
      if (index > snapshot.meta.index) continue;
      this.writeWaiters.delete(index);
      for (const w of list) w.settle('unknown');
    }
    this.hooks.onSnapshotRestored(this, snapshot.meta.index);
    this.serveReads();
  }

  private async apply(committed: readonly Entry[]): Promise<void> {
    for (const e of committed) {
      this.applied.apply(e);
      this.hooks.checker.observeApplied(this.id, e, this.applied.hash);
    }
    const data = this.applied.encode();
    await this.storageWrite(() => this.storage.state.commit([{ type: 'put', key: STATE_KEY, value: data }], this.applied.index));
    for (const e of committed) {
      const list = this.writeWaiters.get(e.index);
      if (list !== undefined) {
        this.writeWaiters.delete(e.index);
        for (const w of list) w.settle(w.term === e.term ? 'ok' : 'failed');
      }
      this.hooks.onApplied(this, e);
    }
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
      if ((r.readIndex ?? Infinity) > this.applied.index) {
        still.push(r);
        continue;
      }
      this.readWaiters.delete(r.contextKey);
      r.settle({ appliedIndex: this.applied.index });
    }
    this.readsAwaitingApply = still;
  }

  private compactionDue(): boolean {
    const index = this.applied.index;
    // Not while applied runs ahead of the log (a snapshot installed, no entry after it yet).
    return index - this.log.snapshotIndex >= this.options.compactEveryEntries && index <= this.log.lastIndex;
  }

  /** The snapshot file, then the log compacted to it. */
  private async compact(core: RaftNode): Promise<void> {
    const applied = this.applied;
    const meta = core.compact(applied.index);
    if (meta.index !== applied.index || meta.term !== applied.term) {
      throw new StorageContractError(
        `node ${this.id}: compact(${applied.index}) returned meta (index ${meta.index}, term ${meta.term}), the state is at term ${applied.term}`,
      );
    }
    const data = applied.encode();
    await this.storageWrite(async () => {
      await this.storage.snapshots.save(meta, data);
      await this.storage.log.compact(meta);
    });
    this.log.compact(meta);
    this.compactions++;
  }

  private async storedState(): Promise<AppliedLog> {
    for await (const [key, value] of this.storage.state.entries()) {
      if (key === STATE_KEY) return AppliedLog.decode(value);
    }
    return new AppliedLog(logIndex(0), term(0), this.options.bootstrapConfState);
  }

  /** Runs storage writes; an error from the storage means the Ready broke its contract. */
  private async storageWrite(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      throw new StorageContractError(`node ${this.id}: ${(error as Error).message}`);
    }
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

export function contextKey(context: Uint8Array): string {
  return decoder.decode(context);
}
