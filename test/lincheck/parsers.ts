/**
 * Parsers for Porcupine's reference histories (test/lincheck/porcupine-data, see its NOTICE.md).
 * Times are line numbers, as in Porcupine's event histories: only the order matters.
 */
import type { Operation } from './checker.js';
import type { CasRegisterInput, CasRegisterOutput, KvInput, KvOutput } from './models.js';

// ---------------------------------------------------------------------------------------------
// Jepsen etcd logs: `INFO  jepsen.util - <process>\t:<type>\t:<f>\t<value>`.

const JEPSEN_LINE = /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*?)\s*$/;
const CAS_ARGS = /^\[(\d+)\s+(\d+)\]$/;

export type CasRegisterOperation = Operation<CasRegisterInput, CasRegisterOutput>;

function parseInvoke(f: string, value: string, where: string): CasRegisterInput {
  if (f === 'read') return { op: 'read' };
  if (f === 'write') return { op: 'write', value: parseInteger(value, where) };
  const cas = CAS_ARGS.exec(value);
  if (!cas) throw new SyntaxError(`${where}: cas arguments must be [old new], got '${value}'`);
  return { op: 'cas', from: Number(cas[1]), to: Number(cas[2]) };
}

function parseInteger(text: string, where: string): number {
  if (!/^\d+$/.test(text)) throw new SyntaxError(`${where}: expected an integer, got '${text}'`);
  return Number(text);
}

/**
 * One Jepsen etcd history as operations on one compare-and-set register, read like Porcupine's
 * parseJepsenLog:
 * - `:ok` completes the operation (a read returns `nil` or a number);
 * - `:fail :cas` is a cas that found another value (the model checks that it did);
 * - `:fail` of a read or write means it did not happen: dropped;
 * - `:info` means the outcome is unknown: the operation stays pending (return = Infinity), and
 *   a read is dropped since its output is unknown (it constrains nothing);
 * - an operation still open at the end of the log is pending too.
 * Jepsen gives a crashed process a new number, so a process has at most one open operation.
 */
export function parseJepsenEtcdLog(text: string): CasRegisterOperation[] {
  const open = new Map<number, CasRegisterOperation>();
  const kept = new Set<CasRegisterOperation>();
  const ops: CasRegisterOperation[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const where = `line ${index + 1}`;
    const m = JEPSEN_LINE.exec(line);
    if (!m) throw new SyntaxError(`${where}: not a Jepsen register operation: '${line}'`);
    const [, processText, type, f, value] = m as unknown as [string, string, string, string, string];
    const process = Number(processText);
    if (type === 'invoke') {
      if (open.has(process)) throw new SyntaxError(`${where}: process ${process} invokes with an operation open`);
      const op: CasRegisterOperation = {
        clientId: process,
        input: parseInvoke(f, value, where),
        call: index,
        output: { status: 'unknown' },
        return: Infinity,
      };
      open.set(process, op);
      ops.push(op);
      kept.add(op);
      return;
    }
    const op = open.get(process);
    if (!op) throw new SyntaxError(`${where}: process ${process} completes an operation it never invoked`);
    if (op.input.op !== f) throw new SyntaxError(`${where}: completes :${f} but process ${process} invoked :${op.input.op}`);
    open.delete(process);
    completeJepsen(op, type, value, index, where, kept);
  });
  return ops.filter((op) => kept.has(op) && !(op.input.op === 'read' && op.return === Infinity));
}

function completeJepsen(
  op: CasRegisterOperation,
  type: string,
  value: string,
  index: number,
  where: string,
  kept: Set<CasRegisterOperation>,
): void {
  if (type === 'info') return; // unknown outcome: stays pending
  if (type === 'fail' && op.input.op !== 'cas') {
    kept.delete(op); // did not happen
    return;
  }
  op.return = index;
  if (type === 'fail') op.output = { status: 'fail' };
  else if (op.input.op === 'read') op.output = { status: 'ok', value: value === 'nil' ? null : parseInteger(value, where) };
  else op.output = { status: 'ok' };
}

/** jepsen_expected.txt: `N true|false` per line → Map(N → linearizable). */
export function parseJepsenExpected(text: string): Map<number, boolean> {
  const expected = new Map<number, boolean>();
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const m = /^\s*(\d+)\s+(true|false)\s*$/.exec(line);
    if (!m) throw new SyntaxError(`line ${index + 1}: expected 'N true|false', got '${line}'`);
    expected.set(Number(m[1]), m[2] === 'true');
  });
  return expected;
}

// ---------------------------------------------------------------------------------------------
// Porcupine kv logs: `{:process P, :type :invoke|:ok, :f :get|:put|:append, :key "k", :value "v"|nil}`.

const KV_LINE = /^\{:process (\d+), :type :(invoke|ok), :f :(get|put|append), :key "(.*)", :value (nil|"(.*)")\}$/;

export type KvOperation = Operation<KvInput, KvOutput>;

/**
 * One kv history, read like Porcupine's parseKvLog. An operation still open at the end is pending
 * (return = Infinity); a pending get is dropped since its output is unknown.
 */
export function parseKvLog(text: string): KvOperation[] {
  const open = new Map<number, KvOperation>();
  const ops: KvOperation[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const where = `line ${index + 1}`;
    const m = KV_LINE.exec(line.trim());
    if (!m) throw new SyntaxError(`${where}: not a kv operation: '${line}'`);
    const [, processText, type, f, key, rawValue, value] = m as unknown as [string, string, string, string, string, string, string?];
    const process = Number(processText);
    if (type === 'invoke') {
      if (open.has(process)) throw new SyntaxError(`${where}: process ${process} invokes with an operation open`);
      if (f !== 'get' && rawValue === 'nil') throw new SyntaxError(`${where}: :${f} needs a value`);
      const input: KvInput = f === 'get' ? { op: 'get', key } : { op: f as 'put' | 'append', key, value: value ?? '' };
      const op: KvOperation = { clientId: process, input, call: index, output: { value: '' }, return: Infinity };
      open.set(process, op);
      ops.push(op);
      return;
    }
    const op = open.get(process);
    if (!op) throw new SyntaxError(`${where}: process ${process} completes an operation it never invoked`);
    if (op.input.op !== f || op.input.key !== key) throw new SyntaxError(`${where}: does not match the open :${op.input.op}`);
    open.delete(process);
    op.return = index;
    op.output = { value: value ?? '' };
  });
  return ops.filter((op) => !(op.input.op === 'get' && op.return === Infinity));
}
