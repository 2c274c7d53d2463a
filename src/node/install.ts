/**
 * Installing a snapshot from its stored file without ever holding it whole: the file is read in
 * chunks (its digest checked as they stream), decoded into pairs, and the pairs go both into a
 * new in-memory state machine and into LevelDB in batches of about INSTALL_BATCH_BYTES. The
 * state store's install marker is written (durably) before the first batch and removed with the
 * applied index in the last one, so a crash in between leaves a marked, partial state that the
 * next open() installs again from the file, never one that is served.
 */
import type { SessionStateMachine } from '../session/index.js';
import type { SnapshotInfo, Storage } from '../storage/index.js';
import { decodeStateSnapshotChunks } from './state-snapshot.js';

/** Bytes of pairs (keys and values) per LevelDB batch of an install. */
export const INSTALL_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Replaces the LevelDB state with the snapshot `info` (already stored, and pointed at by the log)
 * and loads the same pairs into `stateMachine` (a new, empty one). Resolves once the install is
 * durable; the caller swaps the state machine in only then.
 */
export async function installSnapshotFile(
  storage: Pick<Storage, 'state' | 'snapshots'>,
  info: SnapshotInfo,
  stateMachine: SessionStateMachine,
  batchBytes = INSTALL_BATCH_BYTES,
): Promise<void> {
  const state = storage.state;
  await state.beginInstall(info.meta.index);
  async function* intoBatches(pairs: AsyncIterable<[string, Uint8Array]>): AsyncGenerator<[string, Uint8Array]> {
    let batch: [string, Uint8Array][] = [];
    let bytes = 0;
    for await (const pair of pairs) {
      batch.push(pair);
      bytes += pair[0].length + pair[1].length;
      if (bytes >= batchBytes) {
        await state.putBatch(batch);
        batch = [];
        bytes = 0;
      }
      yield pair;
    }
    if (batch.length > 0) await state.putBatch(batch);
  }
  await stateMachine.load(intoBatches(decodeStateSnapshotChunks(storage.snapshots.readChunks(info))));
  if (stateMachine.appliedIndex !== info.meta.index) {
    throw new Error(`snapshot ${info.meta.index} holds a state at applied index ${stateMachine.appliedIndex}`);
  }
  await state.endInstall(info.meta.index);
}
