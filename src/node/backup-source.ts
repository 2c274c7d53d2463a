/**
 * The node side of AdminService/Backup: a consistent point-in-time copy of the applied state,
 * taken from a running node without stopping writes.
 *
 * 1. A linearizable read barrier: this node waits until it has applied the leader's read index,
 *    so the copy holds every write acknowledged before the backup started.
 * 2. Between two loop turns (SessionNode.atRest: every apply awaited, so the state's LevelDB copy
 *    is exactly the in-memory state) a LevelDB iterator is opened. It reads from the snapshot
 *    LevelDB takes as it is created, so the copy is the state at the state machine's applied
 *    index at that instant, whatever is applied after; its session count and digest are read in
 *    the same instant. (The node's own snapshots rely on the same instant: snapshots.ts.)
 * 3. The pairs stream from that iterator at the reader's pace; at the end the copy checks that
 *    it held the applied index and the session count its header claims.
 *
 * At most BACKUPS_CONCURRENT_MAX copies are open per node: each holds a LevelDB snapshot (old
 * versions are kept until it ends) and reads the whole state.
 */
import { unpack } from 'msgpackr';
import type { LogIndex, NodeId } from '../raft/index.js';
import { APPLIED_KEY, SESSION_KEY_PREFIX } from '../session/index.js';
import type { CallOptions, NodeStatus, SessionBackend } from './backend.js';
import { OverloadedError } from './errors.js';
import { invariant } from './invariant.js';

/** Copies open at once on one node; one more is refused with OverloadedError (RESOURCE_EXHAUSTED). */
export const BACKUPS_CONCURRENT_MAX = 2;

export interface StateCopyHeader {
  readonly clusterId: string;
  /** The node the copy was taken from. */
  readonly nodeId: NodeId;
  /** The state machine's applied index: the copy is the state at exactly this index. */
  readonly index: LogIndex;
  /** The node's Raft term when the copy was taken. */
  readonly term: number;
  readonly members: readonly { readonly id: number; readonly address: string; readonly voter: boolean }[];
  /** Sessions in the copy (its `s/` pairs). */
  readonly sessionCount: number;
  /** The state machine's digest at `index` (Status's state_digest): a state rebuilt from the copy has it. */
  readonly stateDigest: string;
}

export interface StateCopy {
  readonly header: StateCopyHeader;
  /** The state's pairs in key order; iterate once. Throws if the copy is not what its header says. */
  pairs(): AsyncIterable<readonly [string, Uint8Array]>;
  /** Releases the copy (its LevelDB iterator and its slot); idempotent, and done by pairs() when it ends. */
  close(): Promise<void>;
}

/** The node between two loop turns (see SessionNode.atRest). */
export interface RestingState {
  /** The state machine's applied index (the last normal entry applied; conf changes do not move it). */
  readonly stateAppliedIndex: LogIndex;
  readonly sessionCount: number;
  readonly status: NodeStatus;
  /** The state's LevelDB pairs: the iterator is created on the first next(). */
  entries(): AsyncIterable<readonly [string, Uint8Array]>;
}

/** What a copy needs from the node. */
export interface BackupHost {
  readonly read: SessionBackend['read'];
  /** Runs `f` in the loop between two turns, where the state's LevelDB copy equals the in-memory state. */
  atRest<T>(f: (rest: RestingState) => T): Promise<T>;
}

/** A node that can give a copy of its state (SessionNode); the gRPC service checks for it. */
export interface StateCopySource {
  openStateCopy(options?: CallOptions): Promise<StateCopy>;
}

type PairIterator = AsyncIterator<readonly [string, Uint8Array]>;

/** Calls waiting for the node's loop to be between two turns (SessionNode.atRest). */
export class RestingCalls {
  private calls: { readonly run: () => void; readonly fail: (error: Error) => void }[] = [];

  get size(): number {
    return this.calls.length;
  }

  /** Queues `f`; the promise settles with its result once the loop ran it (runAll) or failed (failAll). */
  add<T>(f: () => T): Promise<T> {
    // Only copies call it, and they are bounded; more would mean a leak.
    invariant(this.calls.length < 4 * BACKUPS_CONCURRENT_MAX, () => `${this.calls.length} calls already wait for the loop to rest`);
    return new Promise<T>((resolve, reject) => {
      this.calls.push({
        run: () => {
          try {
            resolve(f());
          } catch (error) {
            reject(error);
          }
        },
        fail: reject,
      });
    });
  }

  /** In the loop, between two turns. */
  runAll(): void {
    const calls = this.calls;
    this.calls = [];
    for (const call of calls) call.run();
  }

  failAll(error: Error): void {
    const calls = this.calls;
    this.calls = [];
    for (const call of calls) call.fail(error);
  }
}

export class BackupSource implements StateCopySource {
  private open = 0;

  constructor(
    private readonly host: BackupHost,
    private readonly backupsMax = BACKUPS_CONCURRENT_MAX,
  ) {}

  get openCopies(): number {
    return this.open;
  }

  async openStateCopy(options: CallOptions = {}): Promise<StateCopy> {
    if (this.open >= this.backupsMax) throw new OverloadedError('backupsMax', this.backupsMax);
    this.open++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.open--;
    };
    try {
      await this.host.read(() => undefined, { ...options, consistency: 'linearizable' });
      const { header, iterator, first } = await this.host.atRest((rest) => {
        const iterator = rest.entries()[Symbol.asyncIterator]();
        // Called now, in this very turn: the iterator (and its LevelDB snapshot) is created here.
        const first = iterator.next();
        first.catch(() => undefined); // awaited by pairs(); close() may drop it
        return { header: headerOf(rest), iterator, first };
      });
      return new Copy(header, iterator, first, release);
    } catch (error) {
      release();
      throw error;
    }
  }
}

function headerOf(rest: RestingState): StateCopyHeader {
  const status = rest.status;
  return Object.freeze({
    clusterId: status.clusterId,
    nodeId: status.raft.id,
    index: rest.stateAppliedIndex,
    term: status.raft.term,
    members: Object.freeze(status.members.map((m) => Object.freeze({ id: m.id, address: m.address, voter: m.voter }))),
    sessionCount: rest.sessionCount,
    stateDigest: status.stateDigest,
  });
}

class Copy implements StateCopy {
  private started = false;
  private closed = false;

  constructor(
    readonly header: StateCopyHeader,
    private readonly iterator: PairIterator,
    private readonly first: Promise<IteratorResult<readonly [string, Uint8Array]>>,
    private readonly release: () => void,
  ) {}

  async *pairs(): AsyncIterable<readonly [string, Uint8Array]> {
    invariant(!this.started, () => 'the pairs of a state copy were read twice');
    this.started = true;
    let applied: number | undefined;
    let sessions = 0;
    try {
      for (let next = await this.first; !next.done; next = await this.iterator.next()) {
        const [key, value] = next.value;
        if (key === APPLIED_KEY) applied = unpack(value) as number;
        else if (key.startsWith(SESSION_KEY_PREFIX)) sessions++;
        yield next.value;
      }
      const index = applied ?? 0;
      invariant(index === this.header.index, () => `the state copy holds applied index ${index}, its header says ${this.header.index}`);
      invariant(sessions === this.header.sessionCount, () => `the state copy at ${index} holds ${sessions} sessions, its header says ${this.header.sessionCount}`);
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.release();
    await this.iterator.return?.();
  }
}
