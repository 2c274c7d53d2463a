/**
 * Operating errors of a node, with stable codes. src/server/ maps them to gRPC status codes;
 * nothing else in the server path knows about gRPC.
 */
import type { NodeId } from '../raft/index.js';

export type NodeErrorCode =
  | 'NOT_LEADER'
  | 'OVERLOADED'
  | 'TIMEOUT'
  | 'SHUTTING_DOWN'
  | 'PROPOSAL_DROPPED'
  | 'OUTCOME_UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION';

export class NodeError extends Error {
  constructor(
    readonly code: NodeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** This node cannot serve the request; `leaderId` (0 if unknown) and its client address can. */
export class NotLeaderError extends NodeError {
  constructor(
    readonly leaderId: NodeId,
    readonly leaderAddress: string | undefined,
  ) {
    super(
      'NOT_LEADER',
      leaderId === 0
        ? 'this node is not the leader and no leader is known yet; retry shortly'
        : `this node is not the leader; the leader is node ${leaderId}${leaderAddress ? ` at ${leaderAddress}` : ''}`,
    );
  }
}

/** A named queue limit was hit: back off and retry. */
export class OverloadedError extends NodeError {
  constructor(
    readonly limitName: string,
    readonly limit: number,
  ) {
    super('OVERLOADED', `node overloaded: ${limitName} (${limit}) reached; back off and retry`);
  }
}

export class TimeoutError extends NodeError {
  constructor(what: string, timeoutMs: number) {
    super('TIMEOUT', `${what} did not complete within ${timeoutMs} ms`);
  }
}

/** The entry was overwritten by a new leader: it was not committed and never will be. */
export class ProposalDroppedError extends NodeError {
  constructor(reason: string) {
    super('PROPOSAL_DROPPED', `the write was not committed: ${reason}; it is safe to retry with the same request id`);
  }
}

/**
 * This node can no longer tell whether the write was committed (it lost leadership first, or a
 * snapshot replaced its entry): it may or may not have been applied.
 */
export class OutcomeUnknownError extends NodeError {
  constructor(reason: string) {
    super('OUTCOME_UNKNOWN', `the write's outcome is unknown: ${reason}; retry with the same request id, or read to find out`);
  }
}

export class ShuttingDownError extends NodeError {
  constructor() {
    super('SHUTTING_DOWN', 'the node is shutting down');
  }
}
