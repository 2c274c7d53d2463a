/**
 * AdminService/Backup: streams a node's state copy (src/node/backup-source.ts) as one start
 * message, pair batches of at most BACKUP_MESSAGE_BYTES_MAX, and an end message with the count.
 * Each message is written only after the transport took the previous one (its write callback:
 * HTTP/2 flow control), so a slow reader holds one message here, never the state. A call the
 * client cancels stops the iteration and releases the copy.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { StateCopy, StateCopySource } from '../node/index.js';
import type { SessionBackend } from './backend.js';
import { remainingMs } from './batch.js';
import { malformedReason } from './decode.js';
import { ApiError, toApiError, toServiceError } from './errors.js';

/** A pairs message is cut once its keys and values reach this many bytes (one pair may exceed it). */
export const BACKUP_MESSAGE_BYTES_MAX = 1024 * 1024;
/** What a pair costs in a message besides its key and value (tags and lengths), roughly. */
const PAIR_OVERHEAD_BYTES = 12;

export interface WireBackupMember {
  id: number;
  address: string;
  voter: boolean;
  matchIndex: number;
}

export interface WireBackupStart {
  clusterId: string;
  nodeId: number;
  index: number;
  term: number;
  members: WireBackupMember[];
  sessionCount: number;
  stateDigest: string;
}

export interface WireBackupPair {
  key: string;
  value: Uint8Array;
}

export type WireBackupResponse = { start: WireBackupStart } | { pairs: { pairs: WireBackupPair[] } } | { end: { pairs: number } };

function isStateCopySource(backend: SessionBackend): backend is SessionBackend & StateCopySource {
  return typeof (backend as Partial<StateCopySource>).openStateCopy === 'function';
}

function startMessage(copy: StateCopy): WireBackupResponse {
  const h = copy.header;
  return {
    start: {
      clusterId: h.clusterId,
      nodeId: h.nodeId,
      index: h.index,
      term: h.term,
      members: h.members.map((m) => ({ id: m.id, address: m.address, voter: m.voter, matchIndex: 0 })),
      sessionCount: h.sessionCount,
      stateDigest: h.stateDigest,
    },
  };
}

/** Writes one message; resolves once the transport took it, rejects if the call is cancelled first. */
function send(call: grpc.ServerWritableStream<unknown, WireBackupResponse>, message: WireBackupResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    call.write(message, (error?: Error | null) => {
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    });
  });
}

async function streamCopy(call: grpc.ServerWritableStream<unknown, WireBackupResponse>, copy: StateCopy, signal: AbortSignal): Promise<void> {
  await send(call, startMessage(copy), signal);
  let batch: WireBackupPair[] = [];
  let bytes = 0;
  let total = 0;
  for await (const [key, value] of copy.pairs()) {
    signal.throwIfAborted();
    batch.push({ key, value: Buffer.from(value.buffer, value.byteOffset, value.byteLength) });
    bytes += key.length + value.byteLength + PAIR_OVERHEAD_BYTES;
    total++;
    if (bytes < BACKUP_MESSAGE_BYTES_MAX) continue;
    await send(call, { pairs: { pairs: batch } }, signal);
    batch = [];
    bytes = 0;
  }
  if (batch.length > 0) await send(call, { pairs: { pairs: batch } }, signal);
  await send(call, { end: { pairs: total } }, signal);
}

export function backupHandler(backend: SessionBackend, logger: Logger): grpc.handleServerStreamingCall<unknown, WireBackupResponse> {
  return (call) => {
    const controller = new AbortController();
    const onCancelled = (): void => controller.abort(new DOMException('the backup call was cancelled', 'AbortError'));
    call.once('cancelled', onCancelled);
    let copy: StateCopy | undefined;
    void (async () => {
      try {
        const malformed = malformedReason(call.request);
        if (malformed !== undefined) throw new ApiError(grpc.status.INVALID_ARGUMENT, malformed);
        if (!isStateCopySource(backend)) throw new ApiError(grpc.status.UNIMPLEMENTED, 'this server cannot take backups');
        const deadlineMs = remainingMs(call.getDeadline(), Date.now());
        copy = await backend.openStateCopy({ signal: controller.signal, ...(deadlineMs !== undefined ? { deadlineMs } : {}) });
        await streamCopy(call, copy, controller.signal);
        call.end();
      } catch (error) {
        if (!controller.signal.aborted) call.emit('error', toServiceError(toApiError(error, controller.signal, logger)));
      } finally {
        call.off('cancelled', onCancelled);
        await copy?.close();
      }
    })();
  };
}
