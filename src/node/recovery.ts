/**
 * Offline rewrites of a stopped node's storage, for when a cluster cannot heal by itself:
 * - forceNewCluster: quorum is lost for good (a majority of machines gone); the survivor's
 *   membership becomes itself alone, as etcd's --force-new-cluster does;
 * - seedFromState: a new one-node cluster whose state is given (restore from a backup).
 * Both write through the Storage interface, in the order a received snapshot is installed, so a
 * crash midway leaves either the old data or data the node recovers from.
 */
import {
  applyConfChange,
  decodeConfChange,
  encodeConfChange,
  type ConfState,
  type Entry,
  type LogIndex,
  type NodeId,
  type SnapshotMeta,
  type Term,
} from '../raft/index.js';
import type { Storage } from '../storage/index.js';
import { encodeStateSnapshot } from './state-snapshot.js';

export interface ForcedCluster {
  /** The members before: every one but this node is removed. */
  readonly before: ConfState;
  readonly after: ConfState;
  /** Entries after the commit index that were dropped (never acknowledged as SYNC writes). */
  readonly droppedEntries: number;
  /** The index of the last conf entry written; the node re-applies up to it. */
  readonly commit: LogIndex;
  /** The address the node is the only member at. */
  readonly address: string;
}

/**
 * Rewrites the membership of `self`'s log to `self` alone, at `address`: drops the uncommitted
 * tail (no quorum ever held it, so no SYNC write was acknowledged from it), then appends, as
 * committed, conf entries that make `self` a voter and remove every other member. Removed ids
 * are never members again, so the lost machines cannot come back into the new cluster by mistake.
 */
export async function forceNewCluster(storage: Storage, self: NodeId, listen?: string): Promise<ForcedCluster> {
  const log = await storage.log.load();
  const commit = log.hardState.commit;
  let conf: ConfState = log.snapshot?.confState ?? { voters: [], learners: [] };
  const kept = log.entries.filter((e) => e.index <= commit);
  for (const entry of kept) if (entry.type === 'confChange') conf = applyConfChange(conf, decodeConfChange(entry.data));
  const before = conf;
  const address = listen ?? conf.addresses?.[self];
  if (address === undefined) throw new RangeError(`the data names no address for node ${self}: give the address it will serve on`);
  const changes = [
    ...(conf.voters.includes(self) ? [] : [{ type: 'addVoter' as const, node: self, address }]),
    ...(conf.addresses?.[self] !== address && conf.voters.includes(self) ? [{ type: 'setAddress' as const, node: self, address }] : []),
    ...[...conf.voters, ...conf.learners].filter((id) => id !== self).map((node) => ({ type: 'removeNode' as const, node })),
  ];
  const term = log.hardState.term;
  const entries: Entry[] = changes.map((change, i) => ({
    index: (commit + 1 + i) as LogIndex,
    term,
    type: 'confChange',
    data: encodeConfChange(change),
  }));
  for (const change of changes) conf = applyConfChange(conf, change);
  const last = (commit + entries.length) as LogIndex;
  if (entries.length === 0) {
    // Already a one-voter cluster at this address: nothing to rewrite (it commits its own tail).
    return { before, after: conf, droppedEntries: 0, commit, address };
  }
  // One atomic batch: the tail after commit is replaced by the new entries; a new term with no
  // vote cast in it, so nothing this node promised in the old term can be broken.
  await storage.log.save({ hardState: { term: (term + 1) as Term, vote: 0 as NodeId, commit: last }, entries });
  return { before, after: conf, droppedEntries: log.entries.length - kept.length, commit: last, address };
}

/**
 * A new one-node cluster holding `pairs` (a state as of `index`, taken from a cluster at `term`):
 * the snapshot file, then the log pointing at it, then the state, as an install does.
 */
export async function seedFromState(
  storage: Storage,
  input: { readonly self: NodeId; readonly address: string; readonly index: LogIndex; readonly term: Term; readonly pairs: readonly (readonly [string, Uint8Array])[] },
): Promise<SnapshotMeta> {
  const existing = await storage.log.load();
  if (existing.entries.length > 0 || existing.snapshot !== undefined || existing.hardState.term !== 0) {
    throw new Error('the data directory already holds a log: restore only into an empty one');
  }
  const meta: SnapshotMeta = {
    index: input.index,
    term: input.term,
    confState: { voters: [input.self], learners: [], addresses: { [input.self]: input.address } },
  };
  const data = await encodeStateSnapshot(
    (async function* () {
      yield* input.pairs;
    })(),
    input.index,
  );
  await storage.snapshots.save(meta, data);
  await storage.log.save({ hardState: { term: input.term, vote: 0 as NodeId, commit: input.index }, entries: [], snapshot: meta });
  await storage.state.replaceAll(input.pairs, input.index);
  return meta;
}
