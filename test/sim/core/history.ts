/**
 * The client history: every operation with its call and return time (a logical clock that
 * orders all events of the simulation, plus the tick it happened in). An operation whose
 * outcome is unknown (timed out, its node died) returns at Infinity; a failed one (refused,
 * dropped, its entry overwritten) and a read that never answered are left out: they had no effect.
 */

export type KvInput =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'del'; readonly key: string }
  | { readonly op: 'get'; readonly key: string };

/** put/del answer nothing; get answers the value (null when absent). */
export type KvOutput = { readonly value: string | null } | { readonly done: true };

export type OpStatus = 'pending' | 'ok' | 'unknown' | 'failed';

export interface RecordedOp {
  readonly id: number;
  readonly clientId: number;
  readonly input: KvInput;
  readonly call: number;
  readonly callTick: number;
  output: KvOutput | undefined;
  return: number;
  returnTick: number;
  status: OpStatus;
}

/** Strictly increasing logical time: every read of it is a distinct instant. */
export class LogicalClock {
  private t = 0;
  now(): number {
    return ++this.t;
  }
}

export interface HistoryOptions {
  /** Operations kept; beyond it begin() throws (a runaway workload is a harness bug). @default 200_000 */
  readonly opsMax?: number;
}

export class History {
  private readonly ops: RecordedOp[] = [];
  private readonly opsMax: number;

  constructor(
    private readonly clock: LogicalClock,
    options: HistoryOptions = {},
  ) {
    this.opsMax = options.opsMax ?? 200_000;
  }

  begin(clientId: number, input: KvInput, tick: number): RecordedOp {
    if (this.ops.length >= this.opsMax) throw new Error(`history full: ${this.opsMax} operations`);
    const op: RecordedOp = {
      id: this.ops.length,
      clientId,
      input,
      call: this.clock.now(),
      callTick: tick,
      output: undefined,
      return: Infinity,
      returnTick: Infinity,
      status: 'pending',
    };
    this.ops.push(op);
    return op;
  }

  ok(op: RecordedOp, output: KvOutput, tick: number): void {
    this.assertPending(op);
    op.output = output;
    op.return = this.clock.now();
    op.returnTick = tick;
    op.status = 'ok';
  }

  /** The operation may or may not have taken effect (only meaningful for writes). */
  unknown(op: RecordedOp): void {
    this.assertPending(op);
    op.status = 'unknown';
  }

  /** The operation certainly had no effect. */
  failed(op: RecordedOp): void {
    this.assertPending(op);
    op.status = 'failed';
  }

  /** Ends every pending operation as unknown (the run is over). */
  closeAll(): void {
    for (const op of this.ops) if (op.status === 'pending') op.status = 'unknown';
  }

  get all(): readonly RecordedOp[] {
    return this.ops;
  }

  /**
   * What the linearizability checker sees: completed operations, and writes of unknown outcome
   * (returning at Infinity, output undefined). Unknown reads constrain nothing and are left out.
   */
  checkable(): RecordedOp[] {
    return this.ops.filter((op) => op.status === 'ok' || (op.status === 'unknown' && op.input.op !== 'get'));
  }

  counts(): Record<OpStatus, number> {
    const c: Record<OpStatus, number> = { pending: 0, ok: 0, unknown: 0, failed: 0 };
    for (const op of this.ops) c[op.status]++;
    return c;
  }

  private assertPending(op: RecordedOp): void {
    if (op.status !== 'pending') throw new Error(`operation ${op.id} settled twice (was ${op.status})`);
  }
}
