/**
 * The one place where errors become gRPC statuses. Handlers throw (or the backend throws) and
 * toApiError() decides the code; unary calls send it as a status with trailing metadata, the
 * Batch stream as an Error message.
 */
import { Metadata, status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  NodeError,
  NotLeaderError,
  OverloadedError,
  OutcomeUnknownError,
  ProposalDroppedError,
  ShuttingDownError,
  TimeoutError,
} from '../node/index.js';
import { ValidationError, type CommandResult } from '../session/index.js';
import { WatchClosedError, WatchError, WatchOutOfRangeError, WatchOverloadedError } from '../watch/index.js';
import type { WireError } from './wire.js';

export const LEADER_ID_METADATA_KEY = 'x-leader-id';
export const LEADER_ADDRESS_METADATA_KEY = 'x-leader-address';
/** With OUT_OF_RANGE from Watch: the oldest log index the node can serve a watch from. */
export const OLDEST_INDEX_METADATA_KEY = 'x-oldest-index';

/** A failure with its gRPC status code; `leader` is set for writes refused by a follower. */
export class ApiError extends Error {
  constructor(
    readonly code: status,
    message: string,
    readonly leader?: { readonly id: number; readonly address: string },
    options?: { cause?: unknown; trailers?: Readonly<Record<string, string>> },
  ) {
    super(message, options);
    this.name = 'ApiError';
    this.trailers = options?.trailers;
  }

  /** More trailing metadata of the status (x-oldest-index). */
  readonly trailers: Readonly<Record<string, string>> | undefined;
}

function watchErrorToApi(error: WatchError): ApiError {
  if (error instanceof WatchOutOfRangeError) {
    return new ApiError(status.OUT_OF_RANGE, error.message, undefined, { trailers: { [OLDEST_INDEX_METADATA_KEY]: String(error.oldestIndex) } });
  }
  if (error instanceof WatchOverloadedError) return new ApiError(status.RESOURCE_EXHAUSTED, error.message);
  if (error instanceof WatchClosedError) return new ApiError(status.UNAVAILABLE, error.message);
  return new ApiError(status.INTERNAL, `internal error (${error.name})`);
}

/** INVALID_ARGUMENT whose message starts with the proto field name: "session_id: not a UUID: 'abc'". */
export function invalidArgument(field: string, message: string): ApiError {
  return new ApiError(status.INVALID_ARGUMENT, `${field}: ${message}`);
}

export function notFound(what: string): ApiError {
  return new ApiError(status.NOT_FOUND, `${what} not found`);
}

/** A state machine refusal of a committed command. */
export function commandFailure(result: Extract<CommandResult, { ok: false }>): ApiError {
  switch (result.code) {
    case 'notFound':
      return new ApiError(status.NOT_FOUND, result.message);
    case 'versionMismatch':
      return new ApiError(status.FAILED_PRECONDITION, result.message);
    case 'alreadyExists':
      return new ApiError(status.ALREADY_EXISTS, result.message);
    case 'invalid':
      return new ApiError(status.INVALID_ARGUMENT, result.message);
  }
}

function nodeErrorToApi(error: NodeError): ApiError {
  if (error instanceof NotLeaderError) {
    return new ApiError(status.UNAVAILABLE, error.message, {
      id: error.leaderId,
      address: error.leaderAddress ?? '',
    });
  }
  if (error instanceof OverloadedError) return new ApiError(status.RESOURCE_EXHAUSTED, error.message);
  if (error instanceof TimeoutError) return new ApiError(status.DEADLINE_EXCEEDED, error.message);
  // Retryable: the entry was not committed (with a request id the retry is exactly-once).
  if (error instanceof ProposalDroppedError) return new ApiError(status.UNAVAILABLE, error.message);
  // Retryable with a request id only: the entry may have been committed.
  if (error instanceof OutcomeUnknownError) return new ApiError(status.UNAVAILABLE, error.message);
  if (error instanceof ShuttingDownError) return new ApiError(status.UNAVAILABLE, error.message);
  if (error.code === 'INVALID_ARGUMENT') return new ApiError(status.INVALID_ARGUMENT, error.message);
  if (error.code === 'NOT_FOUND') return new ApiError(status.NOT_FOUND, error.message);
  if (error.code === 'ALREADY_EXISTS') return new ApiError(status.ALREADY_EXISTS, error.message);
  if (error.code === 'FAILED_PRECONDITION') return new ApiError(status.FAILED_PRECONDITION, error.message);
  if (error.code === 'TIMEOUT') return new ApiError(status.DEADLINE_EXCEEDED, error.message);
  return new ApiError(status.INTERNAL, `internal error (${error.code})`);
}

/**
 * Maps anything thrown while serving to an ApiError. `signal` is the call's: an abort caused
 * by its deadline is DEADLINE_EXCEEDED, by the caller's cancel CANCELLED.
 */
export function toApiError(error: unknown, signal: AbortSignal | undefined, logger: Logger): ApiError {
  if (error instanceof ApiError) return error;
  // Its message is already "<field>: <problem>".
  if (error instanceof ValidationError) return new ApiError(status.INVALID_ARGUMENT, error.message);
  if (error instanceof WatchError) return watchErrorToApi(error);
  if (error instanceof NodeError) {
    const api = nodeErrorToApi(error);
    if (api.code === status.INTERNAL) logger.error({ err: error }, 'unexpected node error');
    return api;
  }
  if (signal?.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof Error && reason.name === 'TimeoutError') {
      return new ApiError(status.DEADLINE_EXCEEDED, 'the call deadline passed');
    }
    return new ApiError(status.CANCELLED, 'the call was cancelled');
  }
  logger.error({ err: error }, 'unexpected error while serving a call');
  return new ApiError(status.INTERNAL, 'internal error; see the server log');
}

/** The status a unary call ends with; leader hints travel as trailing metadata. */
export function toServiceError(error: ApiError): { code: status; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  if (error.leader !== undefined) {
    metadata.set(LEADER_ID_METADATA_KEY, String(error.leader.id));
    if (error.leader.address !== '') metadata.set(LEADER_ADDRESS_METADATA_KEY, error.leader.address);
  }
  for (const [key, value] of Object.entries(error.trailers ?? {})) metadata.set(key, value);
  return { code: error.code, details: error.message, metadata };
}

export function toWireError(error: ApiError): WireError {
  return {
    code: error.code,
    message: error.message,
    leaderId: error.leader?.id ?? 0,
    leaderAddress: error.leader?.address ?? '',
    notLeader: error.leader !== undefined,
  };
}
