/**
 * One function per SessionService operation, shared by the unary methods and the Batch stream:
 * validate → backend.write / backend.read → wire response. Failures are thrown (ApiError or
 * whatever the backend threw) and mapped by the caller through toApiError().
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { LogIndex } from '../raft/index.js';
import type { Session, SessionCommand } from '../session/index.js';
import type { ReadOptions, SessionBackend, WriteOptions, WriteOutcome } from './backend.js';
import { ApiError, commandFailure, notFound } from './errors.js';
import { durabilityToWire, sessionToWire, wireSessionBytes } from './mapping.js';
import type { ResolvedSessionApiOptions } from './options.js';
import {
  encodePageToken,
  validateCount,
  validateCreate,
  validateDelete,
  validateDeleteByClient,
  validateGet,
  validateList,
  validateTouch,
  validateUpdate,
  type ValidRead,
  type ValidWrite,
  type ValidWriteCommand,
} from './validate.js';
import type {
  Operation,
  WireDeletedResponse,
  WireRequests,
  WireResponses,
  WireSession,
  WireSessionWriteResponse,
} from './wire.js';

/** What a call brings besides its request: cancellation and the time it has left. */
export interface CallContext {
  readonly signal: AbortSignal;
  /** Milliseconds left before the call's deadline; undefined = none (the node's default applies). */
  readonly deadlineMs: number | undefined;
}

export type Handler<K extends Operation> = (request: WireRequests[K], context: CallContext) => Promise<WireResponses[K]>;
export type Handlers = { readonly [K in Operation]: Handler<K> };

function callOptions(context: CallContext): { signal: AbortSignal; deadlineMs?: number } {
  if (context.deadlineMs === undefined) return { signal: context.signal };
  if (context.deadlineMs <= 0) throw new ApiError(status.DEADLINE_EXCEEDED, 'the call deadline passed before it was served');
  return { signal: context.signal, deadlineMs: context.deadlineMs };
}

function writeOptions(write: ValidWrite, context: CallContext): WriteOptions {
  return { ...write, ...callOptions(context) };
}

function readOptions(read: ValidRead, context: CallContext): ReadOptions {
  return { consistency: read.consistency, minIndex: read.minIndex, ...callOptions(context) };
}

/**
 * An ASYNC create is answered before it is applied: the session as the request made it, with
 * version 1 and the times left at 0 (they are stamped at apply; read with min_index = index).
 */
function acceptedSession(command: Extract<SessionCommand, { type: 'create' }>): Session {
  return {
    sessionId: command.sessionId,
    clientId: command.clientId,
    transport: command.transport,
    createdAtMs: 0,
    updatedAtMs: 0,
    lastActivityMs: 0,
    data: command.data,
    ttlMs: command.ttlMs,
    maxLifetimeMs: command.maxLifetimeMs,
    version: 1,
    expiresAtMs: 0,
  };
}

function resultSession(outcome: WriteOutcome): Session | undefined {
  const result = outcome.result;
  if (!result.ok) throw commandFailure(result);
  return result.session;
}

export function createHandlers(backend: SessionBackend, options: ResolvedSessionApiOptions): Handlers {
  const sessionWrite = async (valid: ValidWriteCommand, context: CallContext): Promise<WireSessionWriteResponse> => {
    const outcome = await backend.write(valid.command, writeOptions(valid.write, context));
    const session = resultSession(outcome);
    return {
      session: session ? sessionToWire(session) : null,
      index: outcome.index,
      durability: durabilityToWire(outcome.durability),
    };
  };
  const deletingWrite = async (valid: ValidWriteCommand, context: CallContext): Promise<WireDeletedResponse> => {
    const outcome = await backend.write(valid.command, writeOptions(valid.write, context));
    resultSession(outcome);
    const deleted = outcome.result.ok ? (outcome.result.deleted ?? 0) : 0;
    return { deleted, index: outcome.index, durability: durabilityToWire(outcome.durability) };
  };

  return {
    create: async (request, context) => {
      const valid = validateCreate(request, options);
      const command = {
        type: 'create' as const,
        // The caller's, or minted here on the serving node; a retry with the same request id gets
        // the first id back.
        sessionId: valid.sessionId ?? randomUUID(),
        clientId: valid.clientId,
        transport: valid.transport,
        data: valid.data,
        ttlMs: valid.ttlMs,
        maxLifetimeMs: valid.maxLifetimeMs,
        dataBytes: valid.dataBytes,
      };
      const outcome = await backend.write(command, writeOptions(valid.write, context));
      const proposed = outcome.proposed?.type === 'create' ? outcome.proposed : command;
      const session = resultSession(outcome) ?? (outcome.durability === 'async' ? acceptedSession(proposed) : undefined);
      if (session === undefined) throw new ApiError(status.INTERNAL, `create applied at index ${outcome.index} returned no session`);
      return { session: sessionToWire(session), index: outcome.index, durability: durabilityToWire(outcome.durability) };
    },
    update: (request, context) => sessionWrite(validateUpdate(request, options), context),
    touch: (request, context) => sessionWrite(validateTouch(request), context),
    delete: (request, context) => deletingWrite(validateDelete(request), context),
    deleteByClient: (request, context) => deletingWrite(validateDeleteByClient(request), context),

    get: async (request, context) => {
      const { sessionId, read } = validateGet(request);
      const found = await backend.read((view, appliedIndex, readTimeMs) => {
        const session = view.get(sessionId, readTimeMs);
        return session ? { session: sessionToWire(session), index: appliedIndex as number } : undefined;
      }, readOptions(read, context));
      if (found === undefined) throw notFound(`session ${sessionId}`);
      return found;
    },

    list: async (request, context) => {
      const valid = validateList(request, options);
      return backend.read(
        (view, appliedIndex, readTimeMs) =>
          listPage(view.listByClient(valid.clientId, readTimeMs, valid.afterSessionId, valid.pageSize + 1), valid, appliedIndex, options.listResponseBytesMax),
        readOptions(valid.read, context),
      );
    },

    count: async (request, context) => {
      const { clientId, read } = validateCount(request);
      return backend.read(
        (view, appliedIndex, readTimeMs) => ({ count: view.count(readTimeMs, clientId), index: appliedIndex as number }),
        readOptions(read, context),
      );
    },
  };
}

/**
 * A page of at most pageSize sessions (`found` holds one more when there are more) and at most
 * about bytesMax bytes (always at least one session), with the token of the next page.
 */
function listPage(
  found: readonly Session[],
  valid: { clientId: string; pageSize: number },
  appliedIndex: LogIndex,
  bytesMax: number,
): WireResponses['list'] {
  const sessions: WireSession[] = [];
  let bytes = 0;
  for (const session of found) {
    if (sessions.length === valid.pageSize) break;
    const wire = sessionToWire(session);
    bytes += wireSessionBytes(wire);
    if (sessions.length > 0 && bytes > bytesMax) break;
    sessions.push(wire);
  }
  const more = sessions.length < found.length;
  const last = sessions[sessions.length - 1];
  return {
    sessions,
    nextPageToken: more && last !== undefined ? encodePageToken(valid.clientId, last.sessionId) : '',
    index: appliedIndex,
  };
}
