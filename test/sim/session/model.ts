/**
 * The sequential specification the simulation of real nodes checks its client history against:
 * one register per session that expires. A session is alive at time t while t < expiresAtMs;
 * every write is linearized at the time the leader stamped it (visible in its answer as
 * lastActivityMs), every read at some time within its call and return, and time never goes
 * back along the linearization. A Touch that revives a session a completed read reported gone,
 * or a read that returns a session past its expiry, has no linearization.
 */
import type { Model, Operation } from '../../lincheck/checker.js';

/** What a client saw of a session: enough to tell versions and expiry apart. */
export interface SessionView {
  readonly version: number;
  readonly expiresAtMs: number;
  /** The time the write that made this version was stamped with. */
  readonly stampMs: number;
  /** The `v` field of the session's data (the last value an update set). */
  readonly value: number;
}

/**
 * The operation, with its interval in simulated milliseconds (the checker's step sees only the
 * input and output, and the model needs the times to place a linearization point).
 */
export type SessionInput = { readonly sessionId: string; readonly callMs: number; readonly returnMs: number } & (
  | { readonly op: 'create'; readonly ttlMs: number }
  | { readonly op: 'touch' }
  | { readonly op: 'update'; readonly value: number }
  | { readonly op: 'read' }
);

/** ok with the session (writes and found reads), notFound, or failed (certainly not applied). */
export type SessionOutput =
  | { readonly status: 'ok'; readonly session: SessionView }
  | { readonly status: 'notFound' }
  | { readonly status: 'failed' };

export type SessionOperation = Operation<SessionInput, SessionOutput>;

/** The session (undefined before its create) and the time of the last linearization point. */
export interface SessionModelState {
  readonly session: SessionView | undefined;
  readonly timeMs: number;
}

type Step = { ok: boolean; state: SessionModelState };
const REFUSED: Step = { ok: false, state: { session: undefined, timeMs: 0 } };

function alive(state: SessionModelState, atMs: number): boolean {
  return state.session !== undefined && atMs < state.session.expiresAtMs;
}

/** A write that succeeded: linearized at its stamp, which must fit its interval and the order. */
function stepWrite(state: SessionModelState, input: SessionInput, view: SessionView): Step {
  const atMs = view.stampMs;
  if (atMs < state.timeMs || atMs < input.callMs || atMs > input.returnMs) return REFUSED;
  if (input.op === 'create') {
    if (alive(state, atMs) || view.version !== 1) return REFUSED;
    return { ok: true, state: { session: view, timeMs: atMs } };
  }
  if (!alive(state, atMs) || view.version !== state.session!.version + 1) return REFUSED;
  if (input.op === 'update' && view.value !== input.value) return REFUSED;
  if (input.op === 'touch' && view.value !== state.session!.value) return REFUSED;
  return { ok: true, state: { session: view, timeMs: atMs } };
}

/** A read or a failed write: linearized at the earliest time that fits (later only narrows). */
function stepObservation(state: SessionModelState, input: SessionInput, output: SessionOutput): Step {
  const earliestMs = Math.max(state.timeMs, input.callMs);
  if (output.status === 'ok') {
    const session = state.session;
    const same = session !== undefined && session.version === output.session.version && session.expiresAtMs === output.session.expiresAtMs;
    const ok = same && earliestMs <= input.returnMs && alive(state, earliestMs);
    return ok ? { ok, state: { session, timeMs: earliestMs } } : REFUSED;
  }
  // Not found: absent, or expired at some time within the interval.
  const goneAtMs = state.session === undefined ? earliestMs : Math.max(earliestMs, state.session.expiresAtMs);
  return goneAtMs <= input.returnMs ? { ok: true, state: { session: state.session, timeMs: goneAtMs } } : REFUSED;
}

export const expiringSessionModel: Model<SessionModelState, SessionInput, SessionOutput> = Object.freeze({
  partition(history: SessionOperation[]): SessionOperation[][] {
    const bySession = new Map<string, SessionOperation[]>();
    for (const op of history) {
      if (op.output.status === 'failed') continue;
      const list = bySession.get(op.input.sessionId);
      if (list === undefined) bySession.set(op.input.sessionId, [op]);
      else list.push(op);
    }
    return [...bySession.values()];
  },
  init: (): SessionModelState => ({ session: undefined, timeMs: 0 }),
  step(state: SessionModelState, input: SessionInput, output: SessionOutput): Step {
    if (output.status === 'failed') return { ok: true, state };
    if (input.op !== 'read' && output.status === 'ok') return stepWrite(state, input, output.session);
    return stepObservation(state, input, output);
  },
  hash: (state: SessionModelState): string =>
    state.session === undefined ? `-@${state.timeMs}` : `${state.session.version}/${state.session.expiresAtMs}/${state.session.value}@${state.timeMs}`,
  describeOperation(input: SessionInput, output: SessionOutput): string {
    const result = output.status === 'ok' ? `v${output.session.version} until ${output.session.expiresAtMs}` : output.status;
    return `${input.op}(${input.sessionId}) -> ${result}`;
  },
});
