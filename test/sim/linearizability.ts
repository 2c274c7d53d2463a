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
} from '../lincheck/index.js';
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
  const history = ops.map(toRegisterOperation);
  const report = checkOperationsVerbose(registerModel, history, { timeoutMs: options.timeoutMs });
  if (report.result !== 'illegal' || report.counterexample === undefined) return { verdict: report.result };
  return { verdict: 'illegal', explanation: describeCounterexample(registerModel, report.counterexample) };
}
