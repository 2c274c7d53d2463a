/**
 * Sequential specifications for the checker: the two Porcupine uses on its reference data
 * (a compare-and-set register for Jepsen's etcd histories, an append key-value store), and the
 * per-key register the simulation and chaos tests record their histories against.
 */
import type { Model, Operation } from './checker.js';

function partitionByKey<I extends { key: string }, O>(history: Operation<I, O>[]): Operation<I, O>[][] {
  const byKey = new Map<string, Operation<I, O>[]>();
  for (const op of history) {
    const ops = byKey.get(op.input.key);
    if (ops) ops.push(op);
    else byKey.set(op.input.key, [op]);
  }
  return [...byKey.keys()].sort().map((key) => byKey.get(key)!);
}

// ---------------------------------------------------------------------------------------------
// 1. Compare-and-set register (Jepsen etcd histories). One register, no partitions.

export type CasRegisterInput = { op: 'read' } | { op: 'write'; value: number } | { op: 'cas'; from: number; to: number };
/**
 * 'ok': read returned `value` (null = no value) / write done / cas swapped.
 * 'fail': cas found another value and did not swap.
 * 'unknown': the client never learned the outcome (give the operation return = Infinity).
 */
export type CasRegisterOutput = { status: 'ok'; value?: number | null } | { status: 'fail' } | { status: 'unknown' };
export type CasRegisterState = number | null;

export const casRegisterModel: Model<CasRegisterState, CasRegisterInput, CasRegisterOutput> = Object.freeze({
  init: (): CasRegisterState => null,
  step(state: CasRegisterState, input: CasRegisterInput, output: CasRegisterOutput) {
    switch (input.op) {
      case 'read': {
        const ok = output.status === 'unknown' || (output.status === 'ok' && (output.value ?? null) === state);
        return { ok, state };
      }
      case 'write':
        // A failed write did not happen: a no-op wherever it is placed.
        return { ok: true, state: output.status === 'fail' ? state : input.value };
      case 'cas': {
        const matches = state === input.from;
        const ok = output.status === 'unknown' || (output.status === 'ok') === matches;
        return { ok, state: matches ? input.to : state };
      }
    }
  },
  hash: (state: CasRegisterState): string => (state === null ? 'nil' : String(state)),
  readOnly: (input: CasRegisterInput, output: CasRegisterOutput): boolean =>
    input.op === 'read' || (input.op === 'cas' && output.status === 'fail') || (input.op === 'write' && output.status === 'fail'),
  describeOperation(input: CasRegisterInput, output: CasRegisterOutput): string {
    switch (input.op) {
      case 'read':
        return output.status === 'ok' ? `read() -> ${output.value ?? 'nil'}` : `read() -> ${output.status}`;
      case 'write':
        return `write(${input.value})${output.status === 'ok' ? '' : ` -> ${output.status}`}`;
      case 'cas':
        return `cas(${input.from}, ${input.to}) -> ${output.status}`;
    }
  },
  describeState: (state: CasRegisterState): string => (state === null ? 'nil' : String(state)),
});

// ---------------------------------------------------------------------------------------------
// 2. Key-value store with get / put / append (Porcupine's kv histories), partitioned by key.
// A missing key reads as '' (as in those histories), so the per-key state is a string.

export type KvInput = { op: 'get'; key: string } | { op: 'put'; key: string; value: string } | { op: 'append'; key: string; value: string };
/** get: the value read; put and append: value is ignored. */
export interface KvOutput {
  value: string;
}

export const kvModel: Model<string, KvInput, KvOutput> = Object.freeze({
  partition: (history: Operation<KvInput, KvOutput>[]) => partitionByKey(history),
  init: (): string => '',
  step(state: string, input: KvInput, output: KvOutput) {
    switch (input.op) {
      case 'get':
        return { ok: output.value === state, state };
      case 'put':
        return { ok: true, state: input.value };
      case 'append':
        return { ok: true, state: state + input.value };
    }
  },
  hash: (state: string): string => state,
  readOnly: (input: KvInput): boolean => input.op === 'get',
  describeOperation(input: KvInput, output: KvOutput): string {
    switch (input.op) {
      case 'get':
        return `get('${input.key}') -> '${output.value}'`;
      case 'put':
        return `put('${input.key}', '${input.value}')`;
      case 'append':
        return `append('${input.key}', '${input.value}')`;
    }
  },
  describeState: (state: string): string => `'${state}'`,
});

// ---------------------------------------------------------------------------------------------
// 3. Per-key register with unknown outcomes, for the simulation and chaos histories.

/** `undefined` = the key is absent. */
export type RegisterValue = string | undefined;

export type RegisterInput =
  | { key: string; op: 'read' }
  | { key: string; op: 'write'; value: string }
  | { key: string; op: 'delete' }
  /** Sets `value` (undefined = delete) only if the current value is `expected` (undefined = absent). */
  | { key: string; op: 'cas'; expected: RegisterValue; value: RegisterValue };

/**
 * 'ok': read returned `value` (undefined = absent) / write or delete done / cas swapped.
 * 'mismatch': cas found another value and changed nothing.
 * 'failed': the operation certainly did not take effect (rejected before proposing): dropped.
 * 'unknown': it may have taken effect, at any time after its call, or never (timeout, crash,
 *   lost leader). partition() sets such operations' return to Infinity whatever was recorded,
 *   since the effect can land after the client gave up; unknown reads are dropped.
 */
export type RegisterOutput =
  | { status: 'ok'; value?: RegisterValue }
  | { status: 'mismatch' }
  | { status: 'failed' }
  | { status: 'unknown' };

export type RegisterOperation = Operation<RegisterInput, RegisterOutput>;

function normalizeRegisterOp(op: RegisterOperation): RegisterOperation | undefined {
  if (op.output.status === 'failed') return undefined;
  if (op.output.status !== 'unknown') return op;
  if (op.input.op === 'read') return undefined;
  return op.return === Infinity ? op : { ...op, return: Infinity };
}

function stepRegister(state: RegisterValue, input: RegisterInput, output: RegisterOutput): { ok: boolean; state: RegisterValue } {
  if (output.status === 'failed') return { ok: true, state };
  switch (input.op) {
    case 'read':
      return { ok: output.status === 'unknown' || (output.status === 'ok' && output.value === state), state };
    case 'write':
      if (output.status === 'mismatch') throw new RangeError(`write(${input.key}): only cas can answer 'mismatch'`);
      return { ok: true, state: input.value };
    case 'delete':
      if (output.status === 'mismatch') throw new RangeError(`delete(${input.key}): only cas can answer 'mismatch'`);
      return { ok: true, state: undefined };
    case 'cas': {
      const matches = state === input.expected;
      const ok = output.status === 'unknown' || (output.status === 'ok') === matches;
      return { ok, state: matches ? input.value : state };
    }
  }
}

function showValue(value: RegisterValue): string {
  return value === undefined ? 'absent' : JSON.stringify(value);
}

export const registerModel: Model<RegisterValue, RegisterInput, RegisterOutput> = Object.freeze({
  partition(history: RegisterOperation[]): RegisterOperation[][] {
    const kept: RegisterOperation[] = [];
    for (const op of history) {
      const normalized = normalizeRegisterOp(op);
      if (normalized) kept.push(normalized);
    }
    return partitionByKey(kept);
  },
  init: (): RegisterValue => undefined,
  step: stepRegister,
  // Injective: '-' for absent, '=' + value for a value (which may itself be '-').
  hash: (state: RegisterValue): string => (state === undefined ? '-' : `=${state}`),
  readOnly: (input: RegisterInput, output: RegisterOutput): boolean =>
    input.op === 'read' || output.status === 'mismatch' || output.status === 'failed',
  describeOperation(input: RegisterInput, output: RegisterOutput): string {
    const status = output.status === 'ok' ? '' : ` -> ${output.status}`;
    switch (input.op) {
      case 'read':
        return output.status === 'ok' ? `read(${input.key}) -> ${showValue(output.value)}` : `read(${input.key})${status}`;
      case 'write':
        return `write(${input.key}, ${showValue(input.value)})${status}`;
      case 'delete':
        return `delete(${input.key})${status}`;
      case 'cas':
        return `cas(${input.key}, ${showValue(input.expected)} => ${showValue(input.value)}) -> ${output.status}`;
    }
  },
  describeState: showValue,
});
