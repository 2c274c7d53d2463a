/**
 * A linearizability checker after Porcupine (github.com/anishathalye/porcupine): the Wing & Gong
 * search with Lowe's memo of (linearized set, model state) pairs, run on each partition of a
 * P-compositional model separately. Written for this repository; the algorithm is Porcupine's.
 *
 * The search walks a doubly linked list of call and return entries sorted by time. At a call
 * entry it tries to linearize that operation next (model.step); if the model accepts and the
 * (set, state) pair is new, the operation is lifted out of the list and the walk restarts at
 * the head. At a return entry whose operation is not linearized yet, no order of what is left
 * can work from here, so it backtracks. It is iterative (an explicit stack), so deep histories
 * do not hit the JS call stack limit.
 *
 * Unknown outcomes: an operation whose client never learned the result has return = Infinity.
 * It may be linearized anywhere after its call, or never: the search succeeds as soon as every
 * operation with a finite return is linearized, whatever pending ones are left.
 *
 * Two prunings beyond Porcupine, both exact (they never change a verdict; the tests compare
 * against a brute-force search and Porcupine's verdicts):
 * - read-only operations (model.readOnly) that fit the current state are linearized at once,
 *   without branching (see PartitionSearch.enterNode);
 * - the memo compares pending operations by inclusion: a node that used more of them than a
 *   visited node with the same state and the same completed operations is covered by it (see
 *   LinearizedCache).
 * On the 50-client register histories of the tests they cut the search by one to two orders of
 * magnitude.
 */
import { Bitset, CacheFullError, LinearizedCache } from './bitset.js';

/** One completed (or pending) operation. The interval [call, return] is closed. */
export interface Operation<I, O> {
  clientId: number;
  input: I;
  /** Invocation time; any finite number on one clock (ms, ticks, event index). */
  call: number;
  output: O;
  /** Response time; Infinity when the outcome is unknown (crash, timeout). */
  return: number;
}

/** A sequential specification. Models are pure: step never mutates the state it is given. */
export interface Model<S, I, O> {
  /**
   * Splits a history into independent parts (e.g. by key) such that the history is linearizable
   * iff every part is. Without it the history is checked whole.
   */
  partition?(history: Operation<I, O>[]): Operation<I, O>[][];
  init(): S;
  step(state: S, input: I, output: O): { ok: boolean; state: S };
  /** Canonical encoding of a state: equal states give equal strings, different states different ones. */
  hash(state: S): string;
  /**
   * Optional: true if this operation never changes the state when the model accepts it (a
   * read, a failed cas). The search then linearizes such an operation as soon as it fits,
   * without trying alternatives, which prunes most of the search on read-heavy histories.
   * A wrong answer is caught (the checker throws) when the step does change the state.
   */
  readOnly?(input: I, output: O): boolean;
  describeOperation?(input: I, output: O): string;
  describeState?(state: S): string;
}

export type CheckResult = 'ok' | 'illegal' | 'unknown';

export interface CheckOptions {
  /** Give up with 'unknown' after this long (all partitions together); Infinity = never. @default 60_000 */
  readonly timeoutMs: number;
  /**
   * Memory for the memo of one partition, estimated (bitset words + ~48 bytes per entry); past
   * it the check gives up with 'unknown'. @default 536_870_912 (512 MiB)
   */
  readonly cacheBytesMax: number;
}

export const CHECK_DEFAULTS: CheckOptions = Object.freeze({ timeoutMs: 60_000, cacheBytesMax: 512 * 1024 * 1024 });

/** Why a partition is not linearizable, from the deepest point the search reached. */
export interface Counterexample<I, O> {
  /** Index in model.partition's output (0 when the model does not partition). */
  partitionIndex: number;
  partitionOperations: number;
  /** The longest sequence the search managed to linearize, in linearization order. */
  longestLinearizable: Operation<I, O>[];
  /** The model state after longestLinearizable (describeState, else hash). */
  stateAfter: string;
  /** The operation whose return came while it could not be linearized after that sequence. */
  blocked: Operation<I, O>;
  /** Every operation still open at that point (blocked included): none of them fit or led further. */
  open: Operation<I, O>[];
}

export interface CheckReport<I, O> {
  result: CheckResult;
  partitions: number;
  /** Memo entries summed over the partitions checked. */
  cacheEntries: number;
  elapsedMs: number;
  /** Set when result is 'illegal'. */
  counterexample?: Counterexample<I, O>;
  /** Set when result is 'unknown'. */
  unknownReason?: string;
}

/** Verdict only. */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  options?: Partial<CheckOptions>,
): CheckResult {
  return run(model, history, resolveCheckOptions(options), false).result;
}

/** Verdict plus, for 'illegal', a counterexample from the first partition found illegal. */
export function checkOperationsVerbose<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  options?: Partial<CheckOptions>,
): CheckReport<I, O> {
  return run(model, history, resolveCheckOptions(options), true);
}

export function resolveCheckOptions(input?: Partial<CheckOptions>): CheckOptions {
  const options = { ...CHECK_DEFAULTS, ...input };
  if (!(options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0 (Infinity allowed), got ${options.timeoutMs}`);
  if (!Number.isInteger(options.cacheBytesMax) || options.cacheBytesMax < 1) {
    throw new RangeError(`cacheBytesMax must be an integer >= 1, got ${options.cacheBytesMax}`);
  }
  return Object.freeze(options);
}

function run<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  options: CheckOptions,
  verbose: boolean,
): CheckReport<I, O> {
  const startMs = Date.now();
  const deadlineMs = startMs + options.timeoutMs;
  validateHistory(history);
  const partitions = model.partition ? model.partition(history) : [history];
  partitions.forEach((p) => validateHistory(p));
  // Small partitions first: an illegal one is usually found sooner, and a timeout hits the big ones.
  const order = partitions.map((_, i) => i).sort((a, b) => partitions[a]!.length - partitions[b]!.length);
  const report: CheckReport<I, O> = { result: 'ok', partitions: partitions.length, cacheEntries: 0, elapsedMs: 0 };
  for (const index of order) {
    const outcome = checkPartition(model, partitions[index]!, deadlineMs, options.cacheBytesMax, verbose);
    report.cacheEntries += outcome.cacheEntries;
    if (outcome.result === 'illegal') {
      report.result = 'illegal';
      if (outcome.deepest) report.counterexample = counterexample(model, partitions[index]!, index, outcome.deepest);
      delete report.unknownReason;
      break;
    }
    if (outcome.result === 'unknown' && report.result === 'ok') {
      report.result = 'unknown';
      report.unknownReason = `partition ${index} (${partitions[index]!.length} operations): ${outcome.unknownReason}`;
    }
  }
  report.elapsedMs = Date.now() - startMs;
  return report;
}

function validateHistory<I, O>(history: Operation<I, O>[]): void {
  history.forEach((op, i) => {
    if (!Number.isFinite(op.call)) throw new RangeError(`operation ${i}: call must be finite, got ${op.call}`);
    if (Number.isNaN(op.return) || op.return < op.call) {
      throw new RangeError(`operation ${i}: return must be >= call (${op.call}) or Infinity, got ${op.return}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The search over one partition.

const NIL = -1;
/** A pseudo-entry: the current node is known to have no linearization. */
const NODE_FAILED = -2;
/** Marks a frame whose operation was linearized without branching (see enterNode). */
const FORCED = 1 << 30;
/** How many search steps between two looks at the clock. */
const STEPS_PER_DEADLINE_CHECK = 1024;

interface Deepest<S> {
  /** Operation ids in linearization order. */
  prefix: number[];
  blocked: number;
  open: number[];
  state: S;
}

interface PartitionOutcome<S> {
  result: CheckResult;
  cacheEntries: number;
  unknownReason?: string;
  deepest?: Deepest<S>;
}

/**
 * Entries are numbered 2*op (call) and 2*op+1 (return); entry 2n is the list head. The list is
 * sorted by time with calls before returns at equal times (closed intervals: they overlap).
 */
class EntryList {
  readonly head: number;
  readonly next: Int32Array;
  readonly prev: Int32Array;

  constructor(times: (entry: number) => number, entries: number) {
    this.head = entries;
    this.next = new Int32Array(entries + 1).fill(NIL);
    this.prev = new Int32Array(entries + 1).fill(NIL);
    const sorted = Array.from({ length: entries }, (_, e) => e).sort((a, b) => {
      const ta = times(a);
      const tb = times(b);
      if (ta !== tb) return ta < tb ? -1 : 1;
      return (a & 1) - (b & 1) || a - b;
    });
    let last = this.head;
    for (const e of sorted) {
      this.next[last] = e;
      this.prev[e] = last;
      last = e;
    }
  }

  /** Removes a call entry and its return entry (the call always precedes its return). */
  lift(call: number): void {
    const { next, prev } = this;
    next[prev[call]!] = next[call]!;
    prev[next[call]!] = prev[call]!;
    const ret = call | 1;
    next[prev[ret]!] = next[ret]!;
    if (next[ret] !== NIL) prev[next[ret]!] = prev[ret]!;
  }

  /** Undoes lift(call); entries keep their own links while out, so this restores the exact order. */
  unlift(call: number): void {
    const { next, prev } = this;
    const ret = call | 1;
    next[prev[ret]!] = ret;
    if (next[ret] !== NIL) prev[next[ret]!] = ret;
    next[prev[call]!] = call;
    prev[next[call]!] = call;
  }
}

function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  deadlineMs: number,
  cacheBytesMax: number,
  trackDeepest: boolean,
): PartitionOutcome<S> {
  const search = new PartitionSearch(model, ops, cacheBytesMax, trackDeepest);
  try {
    return search.run(deadlineMs);
  } catch (error) {
    if (error instanceof CacheFullError) {
      return { result: 'unknown', cacheEntries: search.cacheEntries, unknownReason: error.message };
    }
    throw error;
  }
}

/**
 * One node of the search is (operations linearized, model state). Its candidates are the
 * operations not linearized yet whose call entry comes before the first return entry left in
 * the list: that return's operation (the "frontier") must be linearized before anything that
 * is called after it. Candidates are tried in call order, as in Porcupine.
 */
class PartitionSearch<S, I, O> {
  private readonly list: EntryList;
  private readonly linearized: Bitset;
  private readonly cache: LinearizedCache;
  private readonly frameCalls: number[] = [];
  private readonly frameStates: S[] = [];
  private state: S;
  private finiteLeft: number;
  /** Per operation: 1 if model.readOnly says its step never changes the state. */
  private readonly readOnly: Uint8Array | undefined;
  private deepest: Deepest<S> | undefined;

  constructor(
    private readonly model: Model<S, I, O>,
    private readonly ops: Operation<I, O>[],
    cacheBytesMax: number,
    private readonly trackDeepest: boolean,
  ) {
    this.list = new EntryList((e) => ((e & 1) === 0 ? ops[e >> 1]!.call : ops[e >> 1]!.return), 2 * ops.length);
    const pending = (op: number): boolean => ops[op]!.return === Infinity;
    this.linearized = new Bitset(ops.length, pending);
    const requiredMask = new Uint32Array(this.linearized.words.length);
    for (let op = 0; op < ops.length; op++) if (!pending(op)) requiredMask[op >>> 5]! |= 1 << (op & 31);
    this.cache = new LinearizedCache(requiredMask, cacheBytesMax);
    this.finiteLeft = ops.reduce((count, op) => count + (op.return === Infinity ? 0 : 1), 0);
    this.state = model.init();
    if (model.readOnly) {
      const readOnly = model.readOnly.bind(model);
      this.readOnly = Uint8Array.from(ops, (op) => (readOnly(op.input, op.output) ? 1 : 0));
    }
  }

  get cacheEntries(): number {
    return this.cache.size;
  }

  run(deadlineMs: number): PartitionOutcome<S> {
    const { next } = this.list;
    let entry = this.enterNode();
    let steps = 0;
    // Done once every operation with a known outcome is linearized: pending ones may never have happened.
    while (this.finiteLeft > 0) {
      if (++steps % STEPS_PER_DEADLINE_CHECK === 0 && Date.now() > deadlineMs) {
        return { result: 'unknown', cacheEntries: this.cache.size, unknownReason: `timed out after ${steps} steps` };
      }
      if (entry === NIL) throw new Error(`lincheck: walked off the list with ${this.finiteLeft} operations left`);
      if (entry !== NODE_FAILED && (entry & 1) === 0) {
        entry = this.tryLinearize(entry) ? this.enterNode() : next[entry]!;
        continue;
      }
      // At the frontier's return (or a node known to fail): nothing fits here. Backtrack.
      if (this.trackDeepest) this.noteDeepest(entry);
      if (this.frameCalls.length === 0) {
        return { result: 'illegal', cacheEntries: this.cache.size, ...(this.deepest ? { deepest: this.deepest } : {}) };
      }
      entry = this.backtrack();
    }
    this.checkComplete();
    return { result: 'ok', cacheEntries: this.cache.size };
  }

  /**
   * Entering a node: a read-only candidate the model accepts now is linearized at once, without
   * branching. That loses nothing: in any linearization from here, moving that operation to the
   * front keeps real-time order (it was called before every remaining return) and every step
   * valid (it changes no state). Returns the first candidate to branch on, or NODE_FAILED.
   */
  private enterNode(): number {
    const { next, head } = this.list;
    if (this.readOnly === undefined) return next[head]!;
    for (let e = next[head]!; this.finiteLeft > 0 && e !== NIL && (e & 1) === 0; ) {
      if (this.readOnly[e >> 1] === 0) {
        e = next[e]!;
        continue;
      }
      const op = this.ops[e >> 1]!;
      const stepped = this.model.step(this.state, op.input, op.output);
      if (!stepped.ok) {
        e = next[e]!;
        continue;
      }
      if (!this.tryLinearize(e, stepped)) return NODE_FAILED; // a visited node covers that one
      e = next[head]!;
    }
    return next[head]!;
  }

  private noteDeepest(entry: number): void {
    if (this.deepest !== undefined && this.frameCalls.length <= this.deepest.prefix.length) return;
    let frontier = entry;
    if (frontier === NODE_FAILED) for (frontier = this.list.next[this.list.head]!; (frontier & 1) === 0; frontier = this.list.next[frontier]!);
    this.deepest = snapshotDeepest(this.list, this.frameCalls, frontier >> 1, this.state);
  }

  /**
   * Linearizes the candidate next if the model accepts it and no visited node covers the result.
   * `forcedStep` is given for a read-only operation linearized without branching.
   */
  private tryLinearize(call: number, forcedStep?: { ok: boolean; state: S }): boolean {
    const op = this.ops[call >> 1]!;
    const forced = forcedStep !== undefined;
    const stepped = forcedStep ?? this.model.step(this.state, op.input, op.output);
    if (!stepped.ok) return false;
    const stateKey = this.model.hash(stepped.state);
    if (forced && stateKey !== this.model.hash(this.state)) {
      throw new Error(`lincheck: model.readOnly is true for operation ${call >> 1} but its step changed the state`);
    }
    this.linearized.set(call >> 1);
    if (!this.cache.addIfAbsent(this.linearized, stateKey)) {
      this.linearized.clear(call >> 1);
      return false;
    }
    this.frameCalls.push(forced ? call | FORCED : call);
    this.frameStates.push(this.state);
    this.state = stepped.state;
    this.list.lift(call);
    if (op.return !== Infinity) this.finiteLeft--;
    return true;
  }

  /**
   * Undoes the last linearization and returns the next candidate to try at the node it left,
   * or NODE_FAILED if that linearization was forced (then that node has no alternative).
   */
  private backtrack(): number {
    const frame = this.frameCalls.pop()!;
    const call = frame & ~FORCED;
    this.state = this.frameStates.pop()!;
    this.linearized.clear(call >> 1);
    this.list.unlift(call);
    if (this.ops[call >> 1]!.return !== Infinity) this.finiteLeft++;
    return frame === call ? this.list.next[call]! : NODE_FAILED;
  }

  private checkComplete(): void {
    for (let op = 0; op < this.ops.length; op++) {
      if (this.ops[op]!.return !== Infinity && !this.linearized.has(op)) {
        throw new Error(`lincheck: finished with operation ${op} of ${this.ops.length} not linearized`);
      }
    }
  }
}

function snapshotDeepest<S>(list: EntryList, stackCalls: number[], blocked: number, state: S): Deepest<S> {
  const open: number[] = [];
  const blockedReturn = 2 * blocked + 1;
  for (let e = list.next[list.head]!; e !== blockedReturn && e !== NIL; e = list.next[e]!) {
    if ((e & 1) === 0) open.push(e >> 1);
  }
  return { prefix: stackCalls.map((e) => (e & ~FORCED) >> 1), blocked, open, state };
}

function counterexample<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  partitionIndex: number,
  deepest: Deepest<S>,
): Counterexample<I, O> {
  const stateAfter = model.describeState ? model.describeState(deepest.state) : model.hash(deepest.state);
  return {
    partitionIndex,
    partitionOperations: ops.length,
    longestLinearizable: deepest.prefix.map((i) => ops[i]!),
    stateAfter,
    blocked: ops[deepest.blocked]!,
    open: deepest.open.map((i) => ops[i]!),
  };
}

// ---------------------------------------------------------------------------------------------
// Reporting.

export function describeOperation<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  const what = model.describeOperation
    ? model.describeOperation(op.input, op.output)
    : `${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)}`;
  const returned = op.return === Infinity ? '∞' : String(op.return);
  return `client ${op.clientId}: ${what}  [${op.call}, ${returned}]`;
}

/** A few lines a human can act on: the end of the longest linearization and what broke it. */
export function describeCounterexample<S, I, O>(
  model: Model<S, I, O>,
  cx: Counterexample<I, O>,
  prefixTailMax = 8,
): string {
  const prefix = cx.longestLinearizable;
  const tail = prefix.slice(Math.max(0, prefix.length - prefixTailMax));
  const lines = [
    `partition ${cx.partitionIndex} (${cx.partitionOperations} operations) is not linearizable.`,
    `The longest linearization found has ${prefix.length} operations` +
      (tail.length < prefix.length ? `; its last ${tail.length}:` : tail.length > 0 ? ':' : '.'),
    ...tail.map((op) => `  ${describeOperation(model, op)}`),
    `State after it: ${cx.stateAfter}`,
    `Then this operation returned without any place to linearize it:`,
    `  ${describeOperation(model, cx.blocked)}`,
    `Operations open at that point (none fits next, or each leads to a dead end):`,
    ...cx.open.map((op) => `  ${describeOperation(model, op)}`),
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Event histories (order only, no clocks), as in Porcupine's CheckEvents.

export type Event<I, O> =
  | { clientId: number; kind: 'call'; id: number; value: I }
  | { clientId: number; kind: 'return'; id: number; value: O };

/**
 * Turns an ordered event list into operations with time = position. A call without a return is
 * pending (return = Infinity). The output of a pending operation is `pendingOutput`.
 */
export function eventsToOperations<I, O>(events: Event<I, O>[], pendingOutput: O): Operation<I, O>[] {
  const open = new Map<number, Operation<I, O>>();
  const ops: Operation<I, O>[] = [];
  events.forEach((event, position) => {
    if (event.kind === 'call') {
      if (open.has(event.id)) throw new RangeError(`event ${position}: id ${event.id} is already open`);
      const op: Operation<I, O> = { clientId: event.clientId, input: event.value, call: position, output: pendingOutput, return: Infinity };
      open.set(event.id, op);
      ops.push(op);
      return;
    }
    const op = open.get(event.id);
    if (op === undefined) throw new RangeError(`event ${position}: return of id ${event.id} without an open call`);
    open.delete(event.id);
    op.output = event.value;
    op.return = position;
  });
  return ops;
}

export function checkEvents<S, I, O>(
  model: Model<S, I, O>,
  events: Event<I, O>[],
  pendingOutput: O,
  options?: Partial<CheckOptions>,
): CheckResult {
  return checkOperations(model, eventsToOperations(events, pendingOutput), options);
}
