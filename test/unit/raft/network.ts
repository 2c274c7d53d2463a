/**
 * A tiny deterministic network of RaftCore instances for unit tests: it drives each core's
 * Ready/advance loop (persisting into an in-memory "disk"), queues the messages, and delivers
 * them with step() unless the link is cut. No timers, no randomness besides seeded PRNGs.
 */
import {
  NO_NODE,
  RaftCore,
  encodeConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type LogIndex,
  type Message,
  type NodeId,
  type RaftOptions,
  type ReadState,
  type SnapshotMeta,
  type Term,
} from '../../../src/raft/index.js';
import { mulberry32 } from '../../support/prng.js';

export const ids = (...n: number[]): NodeId[] => n as NodeId[];
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A normal entry whose data names its place, "index@term". */
export function normalEntry(index: number, term: number): Entry {
  return { index: index as LogIndex, term: term as Term, type: 'normal', data: bytes(`${index}@${term}`) };
}

/** A configuration entry removing `node`. */
export function removalEntry(index: number, term: number, node: number): Entry {
  return { index: index as LogIndex, term: term as Term, type: 'confChange', data: encodeConfChange({ type: 'removeNode', node: node as NodeId }) };
}

export const seeded = mulberry32;

/** What one node has durably: the inputs of RaftInitialState. */
export interface Disk {
  hardState: HardState;
  snapshot?: SnapshotMeta;
  snapshotData?: Uint8Array;
  entries: Entry[];
  applied: LogIndex;
}

/** A disk holding entries with the given terms (data 'i@t'), at `term`, committed to `commit`. */
export function diskWithTerms(terms: readonly number[], term: number, commit = 0): Disk {
  const entries: Entry[] = terms.map((t, i) => ({ term: t as Term, index: (i + 1) as LogIndex, type: 'normal', data: bytes(`${i + 1}@${t}`) }));
  return { hardState: { term: term as Term, vote: NO_NODE, commit: commit as LogIndex }, entries, applied: 0 as LogIndex };
}

export function emptyDisk(): Disk {
  return { hardState: { term: 0 as Term, vote: NO_NODE, commit: 0 as LogIndex }, entries: [], applied: 0 as LogIndex };
}

export interface NetworkOptions {
  readonly voters: readonly number[];
  readonly learners?: readonly number[];
  readonly seed?: number;
  /** Options for every node (id and random are filled in). */
  readonly raft?: Partial<Omit<RaftOptions, 'id' | 'random'>>;
  /** Start these nodes from the given disks instead of empty ones (divergent-log scenarios). */
  readonly disks?: Readonly<Record<number, Disk>>;
  /** Per-node option overrides. */
  readonly perNode?: Readonly<Record<number, Partial<Omit<RaftOptions, 'id' | 'random'>>>>;
}

export class Network {
  readonly nodes = new Map<NodeId, RaftCore>();
  readonly disks = new Map<NodeId, Disk>();
  /** Committed entries each node applied, in order (snapshots record a marker). */
  readonly applied = new Map<NodeId, Entry[]>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  readonly droppedReads = new Map<NodeId, Uint8Array[]>();
  /** Every message sent, for assertions. */
  readonly sent: Message[] = [];
  queue: Message[] = [];
  private readonly cut = new Set<string>();
  /** Drop every message for which this returns true (in addition to cut links). */
  filter: ((m: Message) => boolean) | undefined;
  private readonly bootstrap: ConfState;

  constructor(private readonly options: NetworkOptions) {
    this.bootstrap = { voters: ids(...options.voters), learners: ids(...(options.learners ?? [])) };
    for (const id of [...options.voters, ...(options.learners ?? [])]) {
      const disk = options.disks?.[id];
      this.start(id as NodeId, disk ? structuredClone(disk) : emptyDisk());
    }
  }

  node(id: number): RaftCore {
    const node = this.nodes.get(id as NodeId);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  raftOptions(id: NodeId): RaftOptions {
    return {
      ...this.options.raft,
      ...this.options.perNode?.[id],
      id,
      random: seeded((this.options.seed ?? 1) * 1000 + id),
    };
  }

  /** (Re)starts node `id` from `disk`; anything not persisted is lost. */
  start(id: NodeId, disk: Disk, bootstrap: ConfState = this.bootstrap): RaftCore {
    const node = new RaftCore(this.raftOptions(id), {
      hardState: disk.hardState,
      ...(disk.snapshot ? { snapshot: disk.snapshot } : {}),
      entries: [...disk.entries],
      bootstrapConfState: bootstrap,
      applied: disk.applied,
    });
    this.nodes.set(id, node);
    this.disks.set(id, disk);
    if (!this.applied.has(id)) this.applied.set(id, []);
    this.readStates.set(id, this.readStates.get(id) ?? []);
    this.droppedReads.set(id, this.droppedReads.get(id) ?? []);
    return node;
  }

  restart(id: number): RaftCore {
    const disk = this.disks.get(id as NodeId)!;
    return this.start(id as NodeId, structuredClone(disk));
  }

  /** Adds a brand-new node with an empty disk (for membership tests). */
  addNode(id: number, bootstrap: ConfState): RaftCore {
    this.applied.set(id as NodeId, []);
    return this.start(id as NodeId, emptyDisk(), bootstrap);
  }

  /** The runtime's compaction: the core drops the entries, the disk keeps the snapshot meta. */
  compact(id: number, index: number): void {
    const meta = this.node(id).compact(index as LogIndex);
    const disk = this.disks.get(id as NodeId)!;
    disk.snapshot = meta;
    disk.snapshotData = bytes(`snap@${meta.index}`);
    disk.entries = disk.entries.filter((e) => e.index > meta.index);
  }

  isolate(id: number): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cutLink(id, other);
    }
  }

  cutLink(a: number, b: number): void {
    this.cut.add(`${a}-${b}`);
    this.cut.add(`${b}-${a}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Handles one Ready of `id` as the runtime would: persist, send, apply, advance. */
  processReady(id: NodeId): boolean {
    const node = this.nodes.get(id)!;
    if (!node.hasReady()) return false;
    const ready = node.ready();
    const disk = this.disks.get(id)!;
    if (ready.snapshot) {
      disk.snapshot = ready.snapshot.meta;
      disk.snapshotData = ready.snapshot.data;
      disk.entries = [];
      disk.applied = ready.snapshot.meta.index;
      this.applied.get(id)!.push({ term: ready.snapshot.meta.term, index: ready.snapshot.meta.index, type: 'normal', data: bytes('snapshot') });
    }
    if (ready.entries.length > 0) {
      const first = ready.entries[0]!.index;
      disk.entries = disk.entries.filter((e) => e.index < first).concat(ready.entries);
    }
    if (ready.hardState) disk.hardState = ready.hardState;
    for (const m of ready.messages) {
      if (m.from !== id) throw new Error(`node ${id} sent a message from ${m.from}`);
      if (m.to === id) throw new Error(`node ${id} sent a message to itself`);
      this.sent.push(m);
      const attached = m.type === 'snapshot' ? { ...m, snapshot: { meta: m.snapshot!.meta, data: bytes(`snap@${m.snapshot!.meta.index}`) } } : m;
      this.queue.push(attached);
    }
    for (const entry of ready.committed) this.applied.get(id)!.push(entry);
    if (ready.committed.length > 0) disk.applied = ready.committed.at(-1)!.index;
    this.readStates.get(id)!.push(...ready.readStates);
    this.droppedReads.get(id)!.push(...(ready.droppedReads ?? []));
    node.advance(ready);
    return true;
  }

  /** Processes every node's Ready once, then delivers what was queued. True if anything moved. */
  round(): boolean {
    let moved = false;
    for (const id of [...this.nodes.keys()].sort((a, b) => a - b)) moved = this.processReady(id) || moved;
    const queue = this.queue;
    this.queue = [];
    for (const m of queue) {
      moved = true;
      this.deliver(m);
    }
    return moved;
  }

  deliver(m: Message): void {
    if (this.cut.has(`${m.from}-${m.to}`)) return;
    if (this.filter?.(m)) return;
    this.nodes.get(m.to)?.step(m);
  }

  /** Runs rounds until nothing moves (bounded). */
  stabilize(roundsMax = 200): void {
    for (let i = 0; i < roundsMax; i++) if (!this.round()) return;
    throw new Error(`network did not stabilize within ${roundsMax} rounds`);
  }

  /** Ticks every node (or `only`) `n` times, stabilizing after each tick. */
  tick(n: number, only?: readonly number[]): void {
    for (let i = 0; i < n; i++) {
      for (const [id, node] of this.nodes) if (!only || only.includes(id)) node.tick();
      this.stabilize();
    }
  }

  /** Makes `id` (not a leader) campaign by ticking it alone until it starts, then settles. */
  campaign(id: number): void {
    const node = this.node(id);
    this.processReady(id as NodeId);
    for (let i = 0; i < 100 && !node.hasReady(); i++) node.tick();
    this.stabilize();
  }

  /**
   * Makes `id` win an election whatever the leases: it campaigns as a leadership-transfer
   * target would (a 'timeoutNow' stepped in), repeatedly if a higher term comes back; bounded.
   */
  electLeader(id: number, attemptsMax = 5): void {
    const node = this.node(id);
    for (let i = 0; i < attemptsMax; i++) {
      const from = [...this.nodes.keys()].find((other) => other !== id)!;
      node.step({ type: 'timeoutNow', from, to: id as NodeId, term: node.status().term });
      this.stabilize();
      if (node.status().role === 'leader') return;
    }
    throw new Error(`node ${id} did not become leader in ${attemptsMax} campaigns`);
  }

  leaders(): NodeId[] {
    return [...this.nodes].filter(([, n]) => n.status().role === 'leader').map(([id]) => id);
  }

  /** Data of applied normal entries (no-ops skipped), as strings. */
  appliedData(id: number): string[] {
    return this.applied
      .get(id as NodeId)!
      .filter((e) => e.type === 'normal' && e.data.byteLength > 0)
      .map((e) => text(e.data));
  }
}
