/**
 * The simulated disk under the in-memory stores. It models LevelDB plus the OS page cache:
 * every write lands in `current` at once; a synced write also makes every earlier write
 * durable (LevelDB has one ordered write-ahead log). A restart can keep all unsynced writes
 * (a process crash: the OS still has them) or only a prefix of them (a power loss).
 */
import type { Entry, HardState, LogIndex, SnapshotMeta } from '../raft/index.js';
import { assert } from './errors.js';

export interface DiskImage {
  hardState: HardState;
  snapshotMeta: SnapshotMeta | undefined;
  readonly log: Map<number, Entry>;
  readonly state: Map<string, Uint8Array>;
  applied: LogIndex;
  /** A snapshot install was begun and not ended (StateStore.beginInstall). */
  installing: boolean;
  snapshotFile: { readonly meta: SnapshotMeta; readonly data: Uint8Array; readonly digest: Uint8Array } | undefined;
}

/**
 * A write, replayable on any image. It must capture only immutable values: it runs on the
 * current image now and on the durable image when a sync reaches it.
 */
export type DiskWrite = (image: DiskImage) => void;

export function cloneImage(image: DiskImage): DiskImage {
  return { ...image, log: new Map(image.log), state: new Map(image.state) };
}

export class MemoryDisk {
  private readonly current: DiskImage;
  private readonly durable: DiskImage;
  private unsynced: DiskWrite[] = [];
  private crashed = false;

  constructor(
    image: DiskImage,
    private readonly unsyncedWritesMax: number,
  ) {
    this.current = cloneImage(image);
    this.durable = cloneImage(image);
  }

  /** What a reader sees now. Callers must not mutate it; writes go through write(). */
  get image(): DiskImage {
    assert(!this.crashed, () => 'this storage was restarted: the old instance is dead');
    return this.current;
  }

  get unsyncedWrites(): number {
    return this.unsynced.length;
  }

  write(write: DiskWrite, options: { sync: boolean }): void {
    write(this.image);
    if (options.sync) {
      for (const earlier of this.unsynced) earlier(this.durable);
      this.unsynced = [];
      write(this.durable);
      return;
    }
    this.unsynced.push(write);
    // The OS writes dirty pages back eventually: the oldest unsynced write becomes durable.
    if (this.unsynced.length > this.unsyncedWritesMax) this.unsynced.shift()!(this.durable);
  }

  /** The image a restarted process finds, keeping the first `kept` unsynced writes. This disk dies. */
  crash(kept: number): DiskImage {
    assert(kept >= 0, () => `unsyncedWritesKept must be ≥ 0, got ${kept}`);
    const image = cloneImage(this.durable);
    for (const write of this.unsynced.slice(0, kept)) write(image);
    this.crashed = true;
    return image;
  }
}

export function emptyImage(hardState: HardState, applied: LogIndex): DiskImage {
  return {
    hardState,
    snapshotMeta: undefined,
    log: new Map(),
    state: new Map(),
    applied,
    installing: false,
    snapshotFile: undefined,
  };
}

/** A plain Uint8Array copy. (Buffer#slice would return a view, and a Buffer.) */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function copyMeta(meta: SnapshotMeta): SnapshotMeta {
  const { voters, learners, addresses, removed } = meta.confState;
  const confState = {
    voters: [...voters],
    learners: [...learners],
    ...(addresses ? { addresses: { ...addresses } } : {}),
    ...(removed ? { removed: [...removed] } : {}),
  };
  return { index: meta.index, term: meta.term, confState };
}

export function copyEntry(entry: Entry): Entry {
  return { term: entry.term, index: entry.index, type: entry.type, data: copyBytes(entry.data) };
}
