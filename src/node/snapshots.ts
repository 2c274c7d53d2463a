/**
 * The node's own snapshots: taken when enough entries were applied since the last, read from a
 * LevelDB iterator off the loop (the state as of `applied`: every apply awaits its state batch)
 * and streamed into a snapshot writer in chunks (never one buffer of the whole state), then, in
 * the loop, the core is compacted to it and the file committed; and the snapshot sent to a
 * follower that needs one. A snapshot installed from the leader meanwhile supersedes one being
 * taken or saved: the index never moves back.
 */
import type { Logger } from 'pino';
import type { LogIndex, RaftCore, SnapshotMeta } from '../raft/index.js';
import type { SnapshotWriter, Storage } from '../storage/index.js';
import { encodeStateSnapshotChunks } from './state-snapshot.js';

/**
 * When a node takes its own snapshot: `period` = max(threshold, sessions / 2) commands applied
 * since the last (so the CPU per command stays constant as the state grows; commands, not
 * entries, since one entry carries a batch of up to 1,024), and the first one after a start or
 * an install another `phaseFraction` of a period later. Nodes get different fractions
 * (snapshotPhaseFraction), so they do not all snapshot at the same index and stall together.
 */
export function snapshotDue(input: {
  /** Commands (and entries without commands) applied since the last snapshot. */
  readonly appliedSinceSnapshot: number;
  readonly sessionCount: number;
  readonly thresholdEntries: number;
  readonly phaseFraction: number;
  readonly phased: boolean;
}): boolean {
  const periodEntries = Math.max(input.thresholdEntries, Math.floor(input.sessionCount / 2));
  const offsetEntries = input.phased ? 0 : Math.floor(periodEntries * input.phaseFraction);
  return input.appliedSinceSnapshot >= periodEntries + offsetEntries;
}

/** A node's phase in [0, 1): the golden-ratio sequence spreads any few ids far apart. */
export function snapshotPhaseFraction(id: number): number {
  return (id * 0.6180339887498949) % 1;
}

export class OwnSnapshots {
  private taking = false;
  /** A snapshot was taken since the start or the last install: the node is in its phase. */
  private phased = false;
  /** Commands (and entries without commands) applied since the last snapshot was started or installed. */
  private appliedSinceSnapshot = 0;
  /** Read from LevelDB, waiting for the loop to compact the core to it. */
  private built: { readonly index: LogIndex; readonly writer: SnapshotWriter; readonly startedAtMs: number; readonly readMs: number } | undefined;
  /** Its file is being committed: compact() already told the core about it. */
  private beingSaved: { readonly meta: SnapshotMeta; readonly done: Promise<void> } | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly logger: Logger,
    /** Wakes the loop (a snapshot was built). */
    private readonly poke: () => void,
    /** The latest snapshot stored or installed. */
    public index: LogIndex,
    /** This node's phase (snapshotPhaseFraction of its id). */
    private readonly phaseFraction: number,
    /** The node's clock, for the durations in the logs. */
    private readonly nowMs: () => number,
    /** Told each snapshot taken: its bytes and how long it took, read to log compacted (NodeStats). */
    private readonly onTaken: (bytes: number, totalMs: number) => void,
    /** Applied when the node opened: the entries since `index` count toward the next snapshot. */
    appliedAtOpen: LogIndex,
  ) {
    this.appliedSinceSnapshot = Math.max(0, appliedAtOpen - index);
  }

  /** The loop applied this many commands (counting an entry without commands as one). */
  countApplied(units: number): void {
    this.appliedSinceSnapshot += units;
  }

  /** Starts reading a snapshot when one is due (snapshotDue). */
  maybeStart(applied: LogIndex, sessionCount: number, thresholdEntries: number): void {
    if (this.taking) return;
    const due = snapshotDue({
      appliedSinceSnapshot: this.appliedSinceSnapshot,
      sessionCount,
      thresholdEntries,
      phaseFraction: this.phaseFraction,
      phased: this.phased,
    });
    if (!due) return;
    this.taking = true;
    this.phased = true;
    this.appliedSinceSnapshot = 0;
    const startedAtMs = this.nowMs();
    const writer = this.storage.snapshots.create();
    void (async () => {
      for await (const chunk of encodeStateSnapshotChunks(this.storage.state.entries(), applied)) await writer.write(chunk);
    })().then(
      () => {
        this.built = { index: applied, writer, startedAtMs, readMs: Math.round(this.nowMs() - startedAtMs) };
        this.poke();
      },
      (error: unknown) => {
        this.taking = false;
        void writer.abort();
        this.logger.error({ err: error, index: applied }, 'reading the state for a snapshot failed; will retry');
      },
    );
  }

  /** In the loop: tells the core about a built snapshot, then commits the file and compacts the log. */
  compactCore(core: RaftCore): void {
    const built = this.built;
    if (built === undefined) return;
    this.built = undefined;
    const coreSnapshotIndex = core.status().firstIndex - 1;
    if (built.index <= coreSnapshotIndex) {
      // The leader's snapshot was installed while this one was being read: it is obsolete.
      this.taking = false;
      void built.writer.abort();
      this.logger.info({ index: built.index, installed: coreSnapshotIndex }, 'own snapshot superseded by an installed one, dropped');
      return;
    }
    const meta = core.compact(built.index);
    const bytes = built.writer.bytes;
    const done = (async () => {
      await built.writer.commit(meta);
      await this.storage.log.compact(meta);
      // An install of a newer snapshot may have finished meanwhile: never move backwards.
      this.index = Math.max(this.index, meta.index) as LogIndex;
      const totalMs = Math.round(this.nowMs() - built.startedAtMs);
      this.logger.info({ index: meta.index, bytes, readMs: built.readMs, totalMs }, 'snapshot taken, log compacted');
      this.onTaken(bytes, totalMs);
    })()
      .catch((error: unknown) => {
        void built.writer.abort();
        this.logger.error({ err: error }, 'snapshot failed');
      })
      .finally(() => {
        this.taking = false;
        if (this.beingSaved?.meta === meta) this.beingSaved = undefined;
      });
    this.beingSaved = { meta, done };
  }

  /** A snapshot from the leader was installed (its file already stored). */
  installed(meta: SnapshotMeta): void {
    this.index = meta.index;
    this.phased = false; // the leader's index: take the phase again
    this.appliedSinceSnapshot = 0;
    // Our own snapshot still being saved is older: the stored file is the one to send from now.
    if (this.beingSaved && this.beingSaved.meta.index < meta.index) this.beingSaved = undefined;
  }
}
