/**
 * A simulated disk for one node: the durable hard state, the durable log (with the storage
 * contract's truncation semantics) and the latest snapshot (meta + state machine bytes).
 * It survives crashes; everything else of a node does not. A Ready that breaks the storage
 * contract (a hole in the log, entries under the snapshot) throws a StorageContractError.
 */
import type { Entry, HardState, LogIndex, SnapshotMeta, Term } from '../../src/raft/index.js';
import { NO_NODE, logIndex, term } from '../../src/raft/index.js';

export class StorageContractError extends Error {
  override readonly name = 'StorageContractError';
}

export interface StoredSnapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export interface DiskUpdate {
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: StoredSnapshot;
}

export interface DiskImage {
  readonly hardState: HardState;
  readonly snapshot?: StoredSnapshot;
  readonly entries: readonly Entry[];
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({
  term: term(0),
  vote: NO_NODE,
  commit: logIndex(0),
});

export class SimDisk {
  private hard: HardState = EMPTY_HARD_STATE;
  private snap: StoredSnapshot | undefined;
  /** Contiguous, entries[k].index === snapshotIndex + 1 + k. */
  private log: Entry[] = [];
  /** Batches written (one per Ready that had something to persist). */
  writes = 0;

  get hardState(): HardState {
    return this.hard;
  }

  get snapshot(): StoredSnapshot | undefined {
    return this.snap;
  }

  get snapshotIndex(): LogIndex {
    return this.snap?.meta.index ?? logIndex(0);
  }

  get snapshotTerm(): Term {
    return this.snap?.meta.term ?? term(0);
  }

  get firstIndex(): LogIndex {
    return logIndex(this.snapshotIndex + 1);
  }

  get lastIndex(): LogIndex {
    return logIndex(this.snapshotIndex + this.log.length);
  }

  get entryCount(): number {
    return this.log.length;
  }

  /** The entry at `index` if stored (not compacted, not beyond the end). */
  entry(index: number): Entry | undefined {
    return this.log[index - this.snapshotIndex - 1];
  }

  /** Term at `index`: the snapshot's term at its own index, undefined when unknown. */
  termAt(index: number): Term | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    return this.entry(index)?.term;
  }

  /**
   * One atomic batch: snapshot first (drops the whole log: it restarts after the snapshot),
   * then entries (replacing every stored entry from the first one's index on), then hard state.
   */
  save(update: DiskUpdate): void {
    if (update.snapshot !== undefined) this.installSnapshot(update.snapshot);
    if (update.entries.length > 0) this.append(update.entries);
    if (update.hardState !== undefined) this.hard = update.hardState;
    if (update.snapshot !== undefined || update.entries.length > 0 || update.hardState !== undefined) {
      this.writes++;
    }
  }

  /** The state machine took a snapshot: keep it, drop entries ≤ its index (if newer). */
  compact(snapshot: StoredSnapshot): void {
    const index = snapshot.meta.index;
    if (index <= this.snapshotIndex) return;
    if (index > this.lastIndex) {
      throw new StorageContractError(
        `compact at ${index} beyond the last stored index ${this.lastIndex}`,
      );
    }
    const stored = this.termAt(index);
    if (stored !== snapshot.meta.term) {
      throw new StorageContractError(
        `compact at ${index}: snapshot term ${snapshot.meta.term} but the log has term ${stored}`,
      );
    }
    this.log = this.log.slice(index - this.snapshotIndex);
    this.snap = snapshot;
  }

  /** What a restart finds. */
  load(): DiskImage {
    const image: DiskImage = { hardState: this.hard, entries: this.log.slice() };
    return this.snap === undefined ? image : { ...image, snapshot: this.snap };
  }

  private installSnapshot(snapshot: StoredSnapshot): void {
    if (snapshot.meta.index < this.snapshotIndex) {
      throw new StorageContractError(
        `snapshot at ${snapshot.meta.index} older than the stored one at ${this.snapshotIndex}`,
      );
    }
    this.snap = snapshot;
    this.log = [];
  }

  private append(entries: readonly Entry[]): void {
    const first = (entries[0] as Entry).index;
    if (first <= this.snapshotIndex) {
      throw new StorageContractError(
        `entries from ${first} at or below the snapshot index ${this.snapshotIndex}`,
      );
    }
    if (first > this.lastIndex + 1) {
      throw new StorageContractError(`hole: entries from ${first} but the log ends at ${this.lastIndex}`);
    }
    for (let k = 1; k < entries.length; k++) {
      const prev = entries[k - 1] as Entry;
      const e = entries[k] as Entry;
      if (e.index !== prev.index + 1) {
        throw new StorageContractError(`entries not contiguous: ${prev.index} then ${e.index}`);
      }
    }
    this.log.length = first - this.snapshotIndex - 1;
    for (const e of entries) this.log.push(e);
  }
}
