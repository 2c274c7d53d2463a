/**
 * Test helpers for the checker's own tests: a seeded PRNG, a generator of register histories
 * that are linearizable by construction, and a brute-force checker to compare against.
 */
import type { Model, Operation } from './checker.js';
import type { RegisterInput, RegisterOperation, RegisterOutput, RegisterValue } from './models.js';
import { mulberry32 } from '../support/prng.js';

export const prng = mulberry32;

export interface GeneratedHistoryOptions {
  seed: number;
  clients: number;
  opsPerClient: number;
  keys: number;
  /** Probability that the client never learns an operation's outcome. */
  unknownRate: number;
}

interface Planned {
  op: RegisterOperation;
  linearizeAt: number;
  /** False for an unknown operation that never took effect. */
  applies: boolean;
}

/**
 * Clients run operations one after another; each takes effect at one instant inside its interval
 * (or, if its outcome is unknown, possibly never), so the recorded history is linearizable.
 * Written values are unique ("c<client>-<n>").
 */
export function generateLinearizableHistory(options: GeneratedHistoryOptions): RegisterOperation[] {
  const random = prng(options.seed);
  const planned: Planned[] = [];
  for (let client = 0; client < options.clients; client++) {
    let now = Math.floor(random() * 10);
    for (let n = 0; n < options.opsPerClient; n++) {
      const key = `k${Math.floor(random() * options.keys)}`;
      const input = randomInput(random, key, `c${client}-${n}`);
      const call = now;
      const linearizeAt = call + random() * 20;
      const ret = Math.ceil(linearizeAt + random() * 20);
      const unknown = input.op !== 'read' && random() < options.unknownRate;
      const op: RegisterOperation = { clientId: client, input, call, output: { status: 'ok' }, return: unknown ? Infinity : ret };
      planned.push({ op, linearizeAt, applies: !unknown || random() < 0.5 });
      now = ret + Math.floor(random() * 5);
    }
  }
  applyInOrder(planned);
  return planned.map((p) => p.op);
}

function randomInput(random: () => number, key: string, value: string): RegisterInput {
  const r = random();
  if (r < 0.45) return { key, op: 'read' };
  if (r < 0.8) return { key, op: 'write', value };
  if (r < 0.9) return { key, op: 'delete' };
  return { key, op: 'cas', expected: undefined, value };
}

function applyInOrder(planned: Planned[]): void {
  const store = new Map<string, string>();
  for (const p of [...planned].sort((a, b) => a.linearizeAt - b.linearizeAt)) {
    const { input } = p.op;
    const current = store.get(input.key);
    let output: RegisterOutput = { status: 'ok' };
    if (input.op === 'read') output = { status: 'ok', value: current };
    if (input.op === 'cas' && current !== input.expected) output = { status: 'mismatch' };
    if (p.applies) {
      if (input.op === 'write' || (input.op === 'cas' && output.status === 'ok')) store.set(input.key, input.value!);
      if (input.op === 'delete') store.delete(input.key);
    }
    p.op.output = p.op.return === Infinity ? { status: 'unknown' } : output;
  }
}

/**
 * Breaks a generated history: a read of a key returns a value that two earlier completed writes
 * (strictly ordered) replaced before the read was called. Returns undefined if none fits.
 */
export function injectStaleRead(history: RegisterOperation[]): RegisterOperation[] | undefined {
  const writes = history.filter((op) => op.input.op === 'write' && op.return !== Infinity);
  for (const read of history) {
    if (read.input.op !== 'read' || read.return === Infinity) continue;
    const before = writes.filter((w) => w.input.key === read.input.key && w.return < read.call);
    for (const w1 of before) {
      const overwritten = before.some((w2) => w2 !== w1 && w2.call > w1.return);
      const value = (w1.input as { value: string }).value;
      if (overwritten && read.output.status === 'ok' && read.output.value !== value) {
        return history.map((op) => (op === read ? { ...op, output: { status: 'ok', value } } : op));
      }
    }
  }
  return undefined;
}

/**
 * The definition, executed: some subset of the pending operations plus every completed one, in
 * some order that respects real time, is accepted by the model. Exponential; for tiny histories.
 */
export function bruteForceLinearizable<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[]): boolean {
  const partitions = model.partition ? model.partition(history) : [history];
  return partitions.every((ops) => searchAll(model, ops, [], model.init()));
}

function searchAll<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], used: number[], state: S): boolean {
  const done = ops.every((op, i) => op.return === Infinity || used.includes(i));
  if (done) return true;
  for (let i = 0; i < ops.length; i++) {
    if (used.includes(i)) continue;
    // i may go next only if no other unused operation returned before i was called.
    const blocked = ops.some((other, j) => j !== i && !used.includes(j) && other.return < ops[i]!.call);
    if (blocked) continue;
    const stepped = model.step(state, ops[i]!.input, ops[i]!.output);
    if (stepped.ok && searchAll(model, ops, [...used, i], stepped.state)) return true;
  }
  return false;
}

/** A small random history: few ops, few values, arbitrary (often wrong) outputs. */
export function randomSmallHistory(random: () => number, opsMax: number): RegisterOperation[] {
  const values: RegisterValue[] = [undefined, 'a', 'b'];
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  const count = 1 + Math.floor(random() * opsMax);
  return Array.from({ length: count }, (_, i) => {
    const call = Math.floor(random() * 10);
    const ret = call + Math.floor(random() * 6);
    const kind = pick(['read', 'read', 'write', 'delete', 'cas'] as const);
    const key = random() < 0.8 ? 'x' : 'y';
    const input: RegisterInput =
      kind === 'read' ? { key, op: 'read' }
      : kind === 'write' ? { key, op: 'write', value: pick(['a', 'b']) }
      : kind === 'delete' ? { key, op: 'delete' }
      : { key, op: 'cas', expected: pick(values), value: pick(values) };
    const unknown = kind !== 'read' && random() < 0.3;
    let output: RegisterOutput = { status: 'ok' };
    if (unknown) output = { status: 'unknown' };
    else if (kind === 'read') output = { status: 'ok', value: pick(values) };
    else if (kind === 'cas' && random() < 0.5) output = { status: 'mismatch' };
    return { clientId: i, input, call, output, return: unknown ? Infinity : ret };
  });
}
