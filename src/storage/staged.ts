/**
 * Received snapshots waiting for the node to install them (SnapshotStore.stage / takeStaged),
 * one writer per (index, term); the same for the file store and the in-memory one.
 */
import type { SnapshotMeta } from '../raft/index.js';
import type { SnapshotWriter } from './types.js';

export class StagedSnapshots {
  private readonly staged = new Map<string, { meta: SnapshotMeta; writer: SnapshotWriter }>();

  /** Keeps `writer` for `meta`; one staged before for the same snapshot is aborted. */
  stage(meta: SnapshotMeta, writer: SnapshotWriter): void {
    const key = stageKey(meta);
    const old = this.staged.get(key);
    this.staged.set(key, { meta, writer });
    if (old && old.writer !== writer) void old.writer.abort();
  }

  /** Takes the writer staged for `meta`; every one staged for an older index is aborted. */
  take(meta: SnapshotMeta): SnapshotWriter | undefined {
    const key = stageKey(meta);
    const found = this.staged.get(key);
    this.staged.delete(key);
    for (const [other, entry] of this.staged) {
      if (entry.meta.index < meta.index) {
        this.staged.delete(other);
        void entry.writer.abort();
      }
    }
    return found?.writer;
  }
}

function stageKey(meta: SnapshotMeta): string {
  return `${meta.index}/${meta.term}`;
}
