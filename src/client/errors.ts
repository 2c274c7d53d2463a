/**
 * One error class per condition a caller handles differently, each carrying the gRPC status
 * code and the server's message.
 */
import { status } from '@grpc/grpc-js';

export interface LeaderHint {
  /** 0 when the refusing node knows no leader. */
  readonly id: number;
  /** '' when unknown. */
  readonly address: string;
}

export class SessionRaftError extends Error {
  constructor(
    /** gRPC status code number. */
    readonly code: status,
    message: string,
    /** Set when a follower refused a write: nothing was proposed, and the leader is here. */
    readonly leader?: LeaderHint,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** The status code name, e.g. 'NOT_FOUND'. */
  get codeName(): string {
    return status[this.code] ?? String(this.code);
  }
}

export class NotFoundError extends SessionRaftError {}
/** FAILED_PRECONDITION: expected_version did not match the session's version. */
export class VersionMismatchError extends SessionRaftError {}
/** A create with a caller-chosen session id that a live session already has. */
export class AlreadyExistsError extends SessionRaftError {}
export class InvalidArgumentError extends SessionRaftError {}
/** The node cannot serve now (not the leader, shutting down, write dropped, unreachable): retry, maybe elsewhere. */
export class UnavailableError extends SessionRaftError {}
export class DeadlineExceededError extends SessionRaftError {}
/** A queue limit was hit (on the node or in this client): back off and retry. */
export class ResourceExhaustedError extends SessionRaftError {}
export class CancelledError extends SessionRaftError {}
/** A watch from an index no node holds the changes of any more (or not yet: from before its start). */
export class OutOfRangeError extends SessionRaftError {
  /** The oldest index the nodes can serve a watch from (the smallest they named), when known. */
  readonly oldestIndex: number | undefined;

  constructor(code: status, message: string, leader?: LeaderHint, options?: { cause?: unknown; oldestIndex?: number | undefined }) {
    super(code, message, leader, options);
    this.oldestIndex = options?.oldestIndex;
  }
}
export class InternalError extends SessionRaftError {}

type ErrorClass = new (code: status, message: string, leader?: LeaderHint, options?: { cause?: unknown }) => SessionRaftError;

const CLASSES: Partial<Record<status, ErrorClass>> = {
  [status.NOT_FOUND]: NotFoundError,
  [status.FAILED_PRECONDITION]: VersionMismatchError,
  [status.ALREADY_EXISTS]: AlreadyExistsError,
  [status.INVALID_ARGUMENT]: InvalidArgumentError,
  [status.UNAVAILABLE]: UnavailableError,
  [status.DEADLINE_EXCEEDED]: DeadlineExceededError,
  [status.RESOURCE_EXHAUSTED]: ResourceExhaustedError,
  [status.CANCELLED]: CancelledError,
  [status.INTERNAL]: InternalError,
  [status.OUT_OF_RANGE]: OutOfRangeError,
};

export function errorFromStatus(code: status, message: string, leader?: LeaderHint, options?: { cause?: unknown }): SessionRaftError {
  const ErrorClass = CLASSES[code] ?? SessionRaftError;
  return new ErrorClass(code, message, leader, options);
}
