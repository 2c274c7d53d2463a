/**
 * Bridges the simulation's history to the linearizability checker (test/lincheck): each key is
 * a register (put = write, del = delete, get = read); unknown writes return at Infinity.
 */
import {
  checkOperationsVerbose,
  describeCounterexample,
  registerModel,
  type RegisterInput,
  type RegisterOperation,
  type RegisterOutput,
  type RegisterValue,
} from '../../lincheck/index.js';
import type { RecordedOp } from './history.js';

export type LincheckVerdict = 'ok' | 'illegal' | 'unknown' | 'skipped';

export interface LincheckOutcome {
  readonly verdict: LincheckVerdict;
  /** For 'illegal': the checker's counterexample, a few lines. */
  readonly explanation?: string;
}

export function toRegisterOperation(op: RecordedOp): RegisterOperation {
  const key = op.input.key;
  const input: RegisterInput =
    op.input.op === 'put'
      ? { key, op: 'write', value: op.input.value }
      : op.input.op === 'del'
        ? { key, op: 'delete' }
        : { key, op: 'read' };
  let output: RegisterOutput;
  if (op.status === 'ok') {
    const out = op.output;
    output = out !== undefined && 'value' in out ? { status: 'ok', value: out.value ?? undefined } : { status: 'ok' };
  } else if (op.status === 'failed') output = { status: 'failed' };
  else output = { status: 'unknown' };
  return { clientId: op.clientId, input, call: op.call, output, return: op.status === 'ok' ? op.return : Infinity };
}

export function checkHistory(ops: readonly RecordedOp[], options: { timeoutMs: number }): LincheckOutcome {
  // A key with no completed operation constrains nothing (its unknown writes fit anywhere);
  // leaving it out also keeps the checker away from partitions without any finite return.
  const keysWithReturns = new Set(ops.filter((op) => op.status === 'ok').map((op) => op.input.key));
  const history = withoutUnreadUnknownPuts(ops)
    .filter((op) => keysWithReturns.has(op.input.key))
    .map(toRegisterOperation);
  let report: ReturnType<typeof checkOperationsVerbose<RegisterValue, RegisterInput, RegisterOutput>>;
  try {
    report = checkOperationsVerbose(registerModel, history, { timeoutMs: options.timeoutMs });
  } catch (error) {
    return { verdict: 'unknown', explanation: `the checker failed: ${(error as Error).message}` };
  }
  if (report.result !== 'illegal' || report.counterexample === undefined) return { verdict: report.result };
  return { verdict: 'illegal', explanation: describeCounterexample(registerModel, report.counterexample) };
}

/**
 * Drops puts of unknown outcome whose value no read returned. Values are unique, so such a put
 * can only be linearized where no read sees it (right before the next write, or at the end):
 * with or without it the history is equally linearizable, and each one left in doubles the
 * checker's search space.
 */
export function withoutUnreadUnknownPuts(ops: readonly RecordedOp[]): RecordedOp[] {
  const read = new Set<string>();
  for (const op of ops) {
    if (op.status !== 'ok' || op.input.op !== 'get' || op.output === undefined || !('value' in op.output)) continue;
    if (op.output.value !== null) read.add(`${op.input.key}\u0000${op.output.value}`);
  }
  return ops.filter(
    (op) => !(op.status === 'unknown' && op.input.op === 'put' && !read.has(`${op.input.key}\u0000${op.input.value}`)),
  );
}
