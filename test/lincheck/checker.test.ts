import { describe, expect, it } from 'vitest';
import {
  checkEvents,
  checkOperations,
  checkOperationsVerbose,
  describeCounterexample,
  eventsToOperations,
  registerModel,
  type Event,
  type Model,
  type Operation,
  type RegisterInput,
  type RegisterOperation,
  type RegisterOutput,
} from './index.js';
import { bruteForceLinearizable, generateLinearizableHistory, injectStaleRead, prng, randomSmallHistory } from './testkit.js';

// Porcupine's own register example: put(v) / get() -> v, initial value 0.
type IntRegisterInput = { put: number } | { get: true };
const intRegister: Model<number, IntRegisterInput, number> = {
  init: () => 0,
  step: (state, input, output) => ('put' in input ? { ok: true, state: input.put } : { ok: output === state, state }),
  hash: (state) => String(state),
  describeOperation: (input, output) => ('put' in input ? `put(${input.put})` : `get() -> ${output}`),
};

function op<I, O>(clientId: number, input: I, call: number, output: O, ret: number): Operation<I, O> {
  return { clientId, input, call, output, return: ret };
}

const read = (key: string, value: string | undefined): [RegisterInput, RegisterOutput] => [{ key, op: 'read' }, { status: 'ok', value }];
const write = (key: string, value: string): [RegisterInput, RegisterOutput] => [{ key, op: 'write', value }, { status: 'ok' }];
const unknownWrite = (key: string, value: string): [RegisterInput, RegisterOutput] => [{ key, op: 'write', value }, { status: 'unknown' }];

function reg(clientId: number, [input, output]: [RegisterInput, RegisterOutput], call: number, ret: number): RegisterOperation {
  return op(clientId, input, call, output, ret);
}

describe('checker on Porcupine’s register examples', () => {
  it('accepts reads concurrent with a write that see the old or the new value', () => {
    const history = [op(0, { put: 100 }, 0, 0, 100), op(1, { get: true } as const, 25, 100, 75), op(2, { get: true } as const, 30, 0, 60)];
    expect(checkOperations(intRegister, history)).toBe('ok');
  });

  it('rejects a read of the old value after another read saw the new one', () => {
    const history = [op(0, { put: 200 }, 0, 0, 100), op(1, { get: true } as const, 10, 200, 30), op(2, { get: true } as const, 40, 0, 90)];
    expect(checkOperations(intRegister, history)).toBe('illegal');
  });

  it('treats intervals as closed: zero-length operations at equal times overlap', () => {
    const ok = [
      op(0, { put: 100 }, 0, 0, 100),
      op(1, { get: true } as const, 25, 100, 75),
      op(2, { get: true } as const, 30, 0, 30),
      op(3, { get: true } as const, 30, 0, 30),
    ];
    expect(checkOperations(intRegister, ok)).toBe('ok');
    const bad = [
      op(0, { put: 200 }, 0, 0, 100),
      op(1, { get: true } as const, 10, 200, 10),
      op(2, { get: true } as const, 10, 200, 10),
      op(3, { get: true } as const, 40, 0, 90),
    ];
    expect(checkOperations(intRegister, bad)).toBe('illegal');
  });

  it('checks event histories (order only)', () => {
    const events: Event<IntRegisterInput, number>[] = [
      { clientId: 0, kind: 'call', id: 0, value: { put: 200 } },
      { clientId: 1, kind: 'call', id: 1, value: { get: true } },
      { clientId: 1, kind: 'return', id: 1, value: 200 },
      { clientId: 2, kind: 'call', id: 2, value: { get: true } },
      { clientId: 2, kind: 'return', id: 2, value: 0 },
      { clientId: 0, kind: 'return', id: 0, value: 0 },
    ];
    expect(checkEvents(intRegister, events, 0)).toBe('illegal');
    const swapped = [events[0]!, events[3]!, events[4]!, events[1]!, events[2]!, events[5]!];
    expect(checkEvents(intRegister, swapped, 0)).toBe('ok');
  });

  it('treats a call without a return as pending (may have happened or not)', () => {
    const ops = eventsToOperations<IntRegisterInput, number>(
      [
        { clientId: 0, kind: 'call', id: 7, value: { put: 5 } },
        { clientId: 1, kind: 'call', id: 8, value: { get: true } },
        { clientId: 1, kind: 'return', id: 8, value: 5 },
      ],
      -1,
    );
    expect(ops[0]).toEqual({ clientId: 0, input: { put: 5 }, call: 0, output: -1, return: Infinity });
    // intRegister accepts a put with any output, so the pending put may take effect before the get.
    expect(checkOperations(intRegister, ops)).toBe('ok');
    expect(() => eventsToOperations([{ clientId: 0, kind: 'return', id: 1, value: 0 }], 0)).toThrow(/without an open call/);
  });
});

describe('register model', () => {
  it('accepts a concurrent write and read, either way', () => {
    for (const seen of ['a', 'b']) {
      const history = [reg(0, write('x', 'a'), 0, 10), reg(1, write('x', 'b'), 20, 40), reg(2, read('x', seen), 25, 35)];
      expect(checkOperations(registerModel, history)).toBe('ok');
    }
  });

  it('rejects a stale read and explains it', () => {
    const history = [reg(0, write('x', 'a'), 0, 10), reg(3, read('x', 'a'), 12, 14), reg(1, write('x', 'b'), 20, 30), reg(2, read('x', 'a'), 40, 50)];
    const report = checkOperationsVerbose(registerModel, history);
    expect(report.result).toBe('illegal');
    const cx = report.counterexample!;
    expect(cx.blocked).toBe(history[3]);
    expect(cx.longestLinearizable).toEqual([history[0], history[1], history[2]]);
    expect(cx.stateAfter).toBe('"b"');
    const text = describeCounterexample(registerModel, cx);
    expect(text).toContain('read(x) -> "a"  [40, 50]');
    expect(text).toContain('State after it: "b"');
  });

  it('rejects reading a key that was never written, and accepts absent', () => {
    expect(checkOperations(registerModel, [reg(0, read('x', 'a'), 0, 10)])).toBe('illegal');
    expect(checkOperations(registerModel, [reg(0, read('x', undefined), 0, 10)])).toBe('ok');
  });

  it('accepts an unknown write that took effect, even after its client gave up', () => {
    const history = [
      reg(0, write('x', 'a'), 0, 10),
      reg(1, unknownWrite('x', 'b'), 20, 25), // recorded with a finite time: forced to Infinity
      reg(2, read('x', 'a'), 30, 40),
      reg(2, read('x', 'b'), 50, 60),
    ];
    expect(checkOperations(registerModel, history)).toBe('ok');
  });

  it('accepts an unknown write that never took effect', () => {
    const history = [reg(0, write('x', 'a'), 0, 10), reg(1, unknownWrite('x', 'b'), 20, Infinity), reg(2, read('x', 'a'), 30, 40), reg(2, read('x', 'a'), 500, 600)];
    expect(checkOperations(registerModel, history)).toBe('ok');
  });

  it('rejects an unknown write seen before its call, or seen and then undone', () => {
    const early = [reg(0, read('x', 'b'), 0, 10), reg(1, unknownWrite('x', 'b'), 20, Infinity)];
    expect(checkOperations(registerModel, early)).toBe('illegal');
    const flipFlop = [
      reg(0, write('x', 'a'), 0, 10),
      reg(1, unknownWrite('x', 'b'), 20, Infinity),
      reg(2, read('x', 'b'), 30, 40),
      reg(2, read('x', 'a'), 50, 60),
    ];
    expect(checkOperations(registerModel, flipFlop)).toBe('illegal');
  });

  it('models delete and cas, including unknown and mismatched cas', () => {
    const cas = (expected: string | undefined, value: string | undefined, status: RegisterOutput['status']): [RegisterInput, RegisterOutput] => [
      { key: 'x', op: 'cas', expected, value },
      { status } as RegisterOutput,
    ];
    const ok = [
      reg(0, cas(undefined, 'a', 'ok'), 0, 10),
      reg(1, cas(undefined, 'z', 'mismatch'), 20, 30),
      reg(2, [{ key: 'x', op: 'delete' }, { status: 'ok' }], 40, 50),
      reg(3, read('x', undefined), 60, 70),
      reg(4, cas(undefined, 'c', 'unknown'), 80, Infinity),
      reg(5, read('x', 'c'), 90, 100),
    ];
    expect(checkOperations(registerModel, ok)).toBe('ok');
    const bad = [reg(0, cas(undefined, 'a', 'ok'), 0, 10), reg(1, cas(undefined, 'z', 'ok'), 20, 30)];
    expect(checkOperations(registerModel, bad)).toBe('illegal');
  });

  it('drops failed operations and unknown reads', () => {
    const history = [
      reg(0, [{ key: 'x', op: 'write', value: 'a' }, { status: 'failed' }], 0, 10),
      reg(1, [{ key: 'x', op: 'read' }, { status: 'unknown' }], 0, 10),
      reg(2, read('x', undefined), 20, 30),
    ];
    expect(checkOperations(registerModel, history)).toBe('ok');
  });

  it('checks keys independently: one bad key makes the history illegal', () => {
    const history = [reg(0, write('x', 'a'), 0, 10), reg(1, write('y', 'b'), 0, 10), reg(2, read('x', 'a'), 20, 30), reg(3, read('y', 'a'), 20, 30)];
    const report = checkOperationsVerbose(registerModel, history);
    expect(report.result).toBe('illegal');
    expect(report.partitions).toBe(2);
    expect(report.counterexample!.partitionIndex).toBe(1);
  });
});

describe('limits and input validation', () => {
  it('answers unknown (not ok) when the memo is full', () => {
    const history = generateLinearizableHistory({ seed: 1, clients: 5, opsPerClient: 10, keys: 1, unknownRate: 0 });
    expect(checkOperations(registerModel, history, { cacheBytesMax: 100 })).toBe('unknown');
    expect(checkOperations(registerModel, history)).toBe('ok');
  });

  it('answers unknown when the deadline passes', () => {
    const spin = (ms: number): void => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const slow: Model<number, IntRegisterInput, number> = { ...intRegister, step: (s, i, o) => (spin(0.05), intRegister.step(s, i, o)) };
    const history = Array.from({ length: 3000 }, (_, i) => op(0, { put: i }, 2 * i, 0, 2 * i + 1));
    const report = checkOperationsVerbose(slow, history, { timeoutMs: 5 });
    expect(report.result).toBe('unknown');
    expect(report.unknownReason).toMatch(/timed out/);
  });

  it('rejects bad options and bad operations', () => {
    expect(() => checkOperations(intRegister, [], { timeoutMs: 0 })).toThrow(RangeError);
    expect(() => checkOperations(intRegister, [], { cacheBytesMax: 0.5 })).toThrow(RangeError);
    expect(() => checkOperations(intRegister, [op(0, { put: 1 }, 10, 0, 5)])).toThrow(/return must be >= call/);
    expect(() => checkOperations(intRegister, [op(0, { put: 1 }, Infinity, 0, Infinity)])).toThrow(/call must be finite/);
  });

  it('throws when model.readOnly claims an operation that changes the state', () => {
    const lying: Model<number, IntRegisterInput, number> = { ...intRegister, readOnly: () => true };
    expect(() => checkOperations(lying, [op(0, { put: 1 }, 0, 0, 1)])).toThrow(/readOnly/);
  });

  it('accepts the empty history and a history of pending operations only', () => {
    expect(checkOperations(registerModel, [])).toBe('ok');
    expect(checkOperations(registerModel, [reg(0, unknownWrite('x', 'a'), 0, Infinity)])).toBe('ok');
  });
});

describe('against the definition', () => {
  it('agrees with a brute-force search on 3,000 random small histories', () => {
    const random = prng(42);
    const verdicts = { ok: 0, illegal: 0 };
    for (let i = 0; i < 3000; i++) {
      const history = randomSmallHistory(random, 6);
      const expected = bruteForceLinearizable(registerModel, history) ? 'ok' : 'illegal';
      const actual = checkOperations(registerModel, history);
      if (actual !== expected) throw new Error(`history ${i}: expected ${expected}, got ${actual}: ${JSON.stringify(history)}`);
      verdicts[expected]++;
    }
    // Both verdicts must be well represented, or the comparison proves little.
    expect(verdicts.ok).toBeGreaterThan(300);
    expect(verdicts.illegal).toBeGreaterThan(300);
  });
});

describe('50-client register histories (2,000 operations)', () => {
  const cases = [
    { seed: 1, keys: 8, unknownRate: 0.05 },
    { seed: 2, keys: 8, unknownRate: 0.05 },
    { seed: 3, keys: 8, unknownRate: 0.05 },
    { seed: 1, keys: 4, unknownRate: 0.2 },
  ];
  for (const { seed, keys, unknownRate } of cases) {
    it(`seed ${seed}, ${keys} keys, ${unknownRate * 100}% unknown: a linearizable history passes, a stale read fails`, () => {
      const history = generateLinearizableHistory({ seed, clients: 50, opsPerClient: 40, keys, unknownRate });
      expect(history.filter((o) => o.return === Infinity).length).toBeGreaterThan(20);
      expect(checkOperations(registerModel, history, { timeoutMs: 20_000 })).toBe('ok');
      const broken = injectStaleRead(history);
      expect(broken).toBeDefined();
      expect(checkOperations(registerModel, broken!, { timeoutMs: 20_000 })).toBe('illegal');
    });
  }
});
