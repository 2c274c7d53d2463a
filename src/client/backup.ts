/**
 * AdminService.Backup as an async iterable: the start message, pair batches, the end message.
 * The node streams at the pace this iterable is read (HTTP/2 flow control); ending the
 * iteration early cancels the call.
 */
import * as grpc from '@grpc/grpc-js';
import type { AdminServiceClient, BackupResponse__Output } from '../proto/index.js';
import { CancelledError, InternalError, SessionRaftError } from './errors.js';

export interface BackupStart {
  readonly clusterId: string;
  /** The node the copy is taken from. */
  readonly nodeId: number;
  /** The state machine's applied index: the copy is the state at exactly this index. */
  readonly index: number;
  /** The node's Raft term when the copy was taken. */
  readonly term: number;
  readonly members: readonly { readonly id: number; readonly address: string; readonly voter: boolean }[];
  readonly sessionCount: number;
  /** Status's state digest at `index`. */
  readonly stateDigest: string;
}

export type BackupMessage =
  | { readonly type: 'start'; readonly start: BackupStart }
  | { readonly type: 'pairs'; readonly pairs: readonly (readonly [string, Uint8Array])[] }
  | { readonly type: 'end'; readonly pairs: number };

function toMessage(response: BackupResponse__Output): BackupMessage {
  if (response.part === 'start' && response.start) {
    const s = response.start;
    return {
      type: 'start',
      start: {
        clusterId: s.clusterId,
        nodeId: s.nodeId,
        index: s.index,
        term: s.term,
        members: s.members.map((m) => ({ id: m.id, address: m.address, voter: m.voter })),
        sessionCount: s.sessionCount,
        stateDigest: s.stateDigest,
      },
    };
  }
  if (response.part === 'pairs' && response.pairs) return { type: 'pairs', pairs: response.pairs.pairs.map((p) => [p.key, p.value] as const) };
  if (response.part === 'end' && response.end) return { type: 'end', pairs: response.end.pairs };
  throw new InternalError(grpc.status.INTERNAL, `a backup message with no known part (${String(response.part)})`);
}

/** The Backup call on `adminClient`; `toError` maps a failed call's status to a SessionRaftError. */
export async function* backupMessages(
  adminClient: AdminServiceClient,
  toError: (error: grpc.ServiceError) => SessionRaftError,
  signal?: AbortSignal,
): AsyncGenerator<BackupMessage> {
  if (signal?.aborted) throw new CancelledError(grpc.status.CANCELLED, 'the backup was aborted');
  const call = adminClient.Backup({});
  const onAbort = (): void => call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  let ended = false;
  try {
    for await (const response of call as AsyncIterable<BackupResponse__Output>) {
      const message = toMessage(response);
      if (message.type === 'end') ended = true;
      yield message;
    }
  } catch (error) {
    if (signal?.aborted) throw new CancelledError(grpc.status.CANCELLED, 'the backup was aborted');
    if (error instanceof SessionRaftError) throw error;
    if (typeof (error as grpc.ServiceError).code === 'number') throw toError(error as grpc.ServiceError);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!ended) call.cancel();
  }
}
