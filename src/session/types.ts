/**
 * The session domain: the record, the replicated commands and their results. Commands are
 * stamped by the leader (`nowMs`) before they enter the log; nothing in apply() reads a clock.
 */
import type { LogIndex } from '../raft/index.js';

/** A JSON value as stored in `Session.data`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface Session {
  /** UUID v4 chosen by the leader when it stamps the create command. */
  readonly sessionId: string;
  readonly clientId: string;
  /** Free-form transport tag from the seed (e.g. "http", "sse", "stdio", "ws"). */
  readonly transport: string;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
  readonly lastActivityMs: number;
  readonly data: { readonly [key: string]: JsonValue };
  /** Sliding idle TTL: the session expires ttlMs after its last activity. */
  readonly ttlMs: number;
  /** Absolute lifetime cap (createdAt + maxLifetimeMs); 0 means none. */
  readonly maxLifetimeMs: number;
  /** Starts at 1, +1 on every update or touch. */
  readonly version: number;
  /** min(lastActivity + ttl, createdAt + maxLifetime when set). */
  readonly expiresAtMs: number;
}

/** Exactly-once: a retried request with the same (clientId, seq) gets the first answer. */
export interface RequestId {
  readonly clientId: string;
  readonly seq: number;
}

export type SessionCommand =
  | {
      readonly type: 'create';
      readonly sessionId: string;
      readonly clientId: string;
      readonly transport: string;
      readonly data: { readonly [key: string]: JsonValue };
      readonly ttlMs: number;
      readonly maxLifetimeMs: number;
      /**
       * UTF-8 JSON size of `data` as the proposing node measured it: in the log, so every replica
       * takes the same number instead of walking the data again. Absent: apply() measures it.
       */
      readonly dataBytes?: number;
    }
  | {
      readonly type: 'update';
      readonly sessionId: string;
      /** Merged into data key by key; a key set to null is removed. */
      readonly merge: { readonly [key: string]: JsonValue };
      /** 0 = no check; otherwise FAILED_PRECONDITION unless it equals the current version. */
      readonly expectedVersion: number;
      /** 0 = keep the session's TTL. */
      readonly ttlMs: number;
    }
  | { readonly type: 'touch'; readonly sessionId: string }
  | { readonly type: 'delete'; readonly sessionId: string }
  | { readonly type: 'deleteByClient'; readonly clientId: string }
  /** Proposed by the leader's sweeper; removes each listed session that is still due at nowMs. */
  | { readonly type: 'expire'; readonly sessionIds: readonly string[] };

/** What goes into the log: the command, the leader's stamp, and the request id if any. */
export interface StampedCommand {
  readonly command: SessionCommand;
  /** The leader's wall clock when it proposed; the state machine's clock never goes back. */
  readonly nowMs: number;
  readonly requestId?: RequestId;
}

export type CommandErrorCode = 'notFound' | 'versionMismatch' | 'alreadyExists' | 'invalid';

export type CommandResult =
  | { readonly ok: true; readonly session?: Session; readonly deleted?: number }
  | { readonly ok: false; readonly code: CommandErrorCode; readonly message: string };

/** A command's answer with the log index it was applied at. */
export interface AppliedResult {
  readonly index: LogIndex;
  /** The command's position in a batch entry (encodeBatch); undefined for a single-command entry. */
  readonly slot?: number;
  readonly result: CommandResult;
}

/** What a watcher is told about a session: see SessionChange. */
export type SessionChangeType = 'created' | 'updated' | 'touched' | 'deleted' | 'expired';

/**
 * One change an applied command made to one session, in apply order. A command may make several
 * (deleteByClient, expire, a create that replaces an expired session); a failed command or a
 * request answered from the dedup table makes none. Equal on every replica: (index, position)
 * names a change in the whole cluster.
 */
export interface SessionChange {
  readonly index: LogIndex;
  /** Ordinal of this change among the changes of the entry at `index`: 0, 1, ... */
  readonly position: number;
  /** The command's slot in a batch entry; 0 for a single-command entry. */
  readonly slot: number;
  readonly type: SessionChangeType;
  /**
   * created/updated/touched: the session after the change; deleted/expired: its last version.
   * 'expired' is a session removed past its expiry: by the leader's sweep, or by a
   * deleteByClient or a create of its id that found it expired and not yet swept.
   */
  readonly session: Session;
  /** UTF-8 size of session.data as JSON (known to the state machine; a watch ring counts it without encoding the data). */
  readonly dataBytes: number;
}

/** One command of a batch entry: the commands of one leader loop turn share one entry and stamp. */
export interface BatchItem {
  readonly command: SessionCommand;
  readonly requestId?: RequestId;
}

/** Read-only queries over the applied state, served from memory. `nowMs` filters expired sessions. */
export interface SessionQueries {
  get(sessionId: string, nowMs: number): Session | undefined;
  /** Sessions of one client in sessionId order, after `afterSessionId` (exclusive), at most `limit`. */
  listByClient(clientId: string, nowMs: number, afterSessionId: string, limit: number): Session[];
  /** Live (unexpired) sessions, all or of one client. */
  count(nowMs: number, clientId?: string): number;
}
