/**
 * The node's own snapshots: taken when enough entries were applied since the last, read from a
 * LevelDB iterator off the loop (the state as of `applied`: every apply awaits its state batch),
 * then, in the loop, the core is compacted to it and the file written; and the snapshot sent to a
 * follower that needs one. A snapshot installed from the leader meanwhile supersedes one being
 * taken or saved: the index never moves back.
 */
import type { Logger } from 'pino';
import type { LogIndex, Message, RaftCore, SnapshotMeta } from '../raft/index.js';
import type { Storage } from '../storage/index.js';
import { invariant } from './invariant.js';
import { encodeStateSnapshot } from './state-snapshot.js';

export class OwnSnapshots {
  private taking = false;
  /** Read from LevelDB, waiting for the loop to compact the core to it. */
  private built: { readonly index: LogIndex; readonly data: Uint8Array } | undefined;
  /** Its file is being written: compact() already told the core about it. */
  private beingSaved: { readonly meta: SnapshotMeta; readonly data: Uint8Array } | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly logger: Logger,
    /** Wakes the loop (a snapshot was built). */
    private readonly poke: () => void,
    /** The latest snapshot stored or installed. */
    public index: LogIndex,
  ) {}

  /**
   * Starts reading a snapshot when `thresholdEntries` were applied since the last; the threshold
   * grows with the state (max(threshold, sessions / 2)) so the CPU per entry stays constant.
   */
  maybeStart(applied: LogIndex, sessionCount: number, thresholdEntries: number): void {
    const threshold = Math.max(thresholdEntries, Math.floor(sessionCount / 2));
    if (this.taking || applied - this.index < threshold) return;
    this.taking = true;
    encodeStateSnapshot(this.storage.state.entries(), applied).then(
      (data) => {
        this.built = { index: applied, data };
        this.poke();
      },
      (error: unknown) => {
        this.taking = false;
        this.logger.error({ err: error, index: applied }, 'reading the state for a snapshot failed; will retry');
      },
    );
  }

  /** In the loop: tells the core about a built snapshot, then stores the file and compacts the log. */
  compactCore(core: RaftCore): void {
    const built = this.built;
    if (built === undefined) return;
    this.built = undefined;
    const coreSnapshotIndex = core.status().firstIndex - 1;
    if (built.index <= coreSnapshotIndex) {
      // The leader's snapshot was installed while this one was being read: it is obsolete.
      this.taking = false;
      this.logger.info({ index: built.index, installed: coreSnapshotIndex }, 'own snapshot superseded by an installed one, dropped');
      return;
    }
    const meta = core.compact(built.index);
    this.beingSaved = { meta, data: built.data };
    void (async () => {
      await this.storage.snapshots.save(meta, built.data);
      await this.storage.log.compact(meta);
      // An install of a newer snapshot may have finished meanwhile: never move backwards.
      this.index = Math.max(this.index, meta.index) as LogIndex;
      this.logger.info({ index: meta.index, bytes: built.data.length }, 'snapshot taken, log compacted');
    })()
      .catch((error: unknown) => this.logger.error({ err: error }, 'snapshot failed'))
      .finally(() => {
        this.taking = false;
        this.beingSaved = undefined;
      });
  }

  /** A snapshot from the leader was installed (its file already stored). */
  installed(meta: SnapshotMeta): void {
    this.index = meta.index;
    // Our own snapshot still being saved is older: the stored file is the one to send from now.
    if (this.beingSaved && this.beingSaved.meta.index < meta.index) this.beingSaved = undefined;
  }

  /** Gives the core's snapshot messages their data: the newest snapshot, being saved or stored. */
  async attach(messages: readonly Message[]): Promise<readonly Message[]> {
    if (!messages.some((m) => m.type === 'snapshot')) return messages;
    // The core may ask for a snapshot it was told about while its file is still being written.
    const latest = this.beingSaved ?? (await this.storage.snapshots.latest());
    invariant(latest !== undefined, () => 'the core asked to send a snapshot but none was ever taken');
    for (const m of messages) {
      if (m.type !== 'snapshot' || !m.snapshot) continue;
      const requested = m.snapshot.meta.index;
      invariant(latest.meta.index >= requested, () => `snapshot ${requested} requested, latest stored is ${latest.meta.index}`);
    }
    return messages.map((m) => (m.type === 'snapshot' ? { ...m, snapshot: { meta: latest.meta, data: latest.data } } : m));
  }
}
