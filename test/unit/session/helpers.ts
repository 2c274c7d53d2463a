import type { LogIndex } from '../../../src/raft/index.js';
import {
  SessionStateMachine,
  encodeCommand,
  type ApplyEntry,
  type CommandResult,
  type RequestId,
  type SessionCommand,
  type SessionStateMachineOptions,
  type StateOp,
} from './imports.js';
import { mulberry32 } from '../../support/prng.js';

/** A deterministic canonical UUID for test number n. */
export function uuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

export const T0 = 1_700_000_000_000;
export const HOUR = 3_600_000;

export function entry(index: number, command: SessionCommand, nowMs: number, requestId?: RequestId): ApplyEntry {
  return {
    index: index as LogIndex,
    data: encodeCommand(requestId ? { command, nowMs, requestId } : { command, nowMs }),
  };
}

/** Drives a state machine one entry at a time and keeps every op, as the runtime would. */
export class Driver {
  readonly sm: SessionStateMachine;
  readonly ops: StateOp[] = [];
  readonly store = new Map<string, Uint8Array>();
  index = 0;

  constructor(options: SessionStateMachineOptions = {}) {
    this.sm = new SessionStateMachine(options);
  }

  apply(command: SessionCommand, nowMs: number, requestId?: RequestId): CommandResult {
    return this.applyBytes(entry(this.index + 1, command, nowMs, requestId).data);
  }

  applyBytes(data: Uint8Array): CommandResult {
    this.index++;
    const { results, ops } = this.sm.applyEntries([{ index: this.index as LogIndex, data }]);
    this.record(ops);
    if (results.length !== 1) throw new Error(`expected one result, got ${results.length}`);
    return results[0]!.result;
  }

  record(ops: readonly StateOp[]): void {
    for (const op of ops) {
      this.ops.push(op);
      if (op.type === 'put') this.store.set(op.key, op.value);
      else this.store.delete(op.key);
    }
  }

  create(n: number, nowMs: number, extra: Partial<Extract<SessionCommand, { type: 'create' }>> = {}): CommandResult {
    return this.apply(
      { type: 'create', sessionId: uuid(n), clientId: 'alice', transport: 'http', data: {}, ttlMs: HOUR, maxLifetimeMs: 0, ...extra },
      nowMs,
    );
  }
}

/** The store's pairs in key order, as StateStore.entries() yields them. */
export function sortedPairs(store: ReadonlyMap<string, Uint8Array>): [string, Uint8Array][] {
  return [...store.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

export const prng = mulberry32;
