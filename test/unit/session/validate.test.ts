import { describe, expect, it } from 'vitest';
import { uuid } from './helpers.js';
import {
  SessionStateMachine,
  ValidationError,
  resolveSessionStateMachineOptions,
  validateClientId,
  validateCommand,
  validateData,
  validateMaxLifetimeMs,
  validateRequestId,
  validateSessionId,
  validateTransport,
  validateTtlMs,
} from './imports.js';

function failure(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

const limits = { dataBytesMax: 65_536 };

describe('field validation', () => {
  it('sessionId: opaque, 1-128 characters of [A-Za-z0-9_-] (UUIDs minted by servers are such ids)', () => {
    for (const good of [uuid(1), 'ABCDEF01-0000-4000-8000-00000000000A', 'x', 'sess_Z-9', 'a'.repeat(128)]) expect(validateSessionId(good)).toBe(good);
    for (const bad of [`{${uuid(1)}}`, 'a.b', 'a b', 'é', 'a'.repeat(129), '', 42, undefined]) {
      const e = failure(() => validateSessionId(bad));
      expect(e.field).toBe('sessionId');
      expect(e.message).toMatch(/^sessionId: must be 1-128 characters of \[A-Za-z0-9_-\]/);
    }
  });

  it('clientId: 1..256 printable ASCII', () => {
    expect(validateClientId('user@example.com / tab 2')).toBe('user@example.com / tab 2');
    expect(validateClientId('x'.repeat(256))).toHaveLength(256);
    expect(failure(() => validateClientId('')).message).toBe('clientId: must be 1..256 characters, got 0');
    expect(failure(() => validateClientId('x'.repeat(257))).message).toBe('clientId: must be 1..256 characters, got 257');
    expect(failure(() => validateClientId('a\nb')).message).toMatch(/^clientId: must be printable ASCII/);
    expect(failure(() => validateClientId('café')).message).toMatch(/^clientId: must be printable ASCII/);
    expect(failure(() => validateClientId(7)).field).toBe('clientId');
  });

  it('transport: 1..32 of [a-z0-9_-]', () => {
    expect(validateTransport('streamable-http_2')).toBe('streamable-http_2');
    for (const bad of ['', 'HTTP', 'a b', 'x'.repeat(33)]) {
      expect(failure(() => validateTransport(bad)).message).toMatch(/^transport: must be 1\.\.32 characters of \[a-z0-9_-\]/);
    }
  });

  it('data: a JSON object within the size and depth limits', () => {
    expect(validateData({ a: [1, { b: null }], c: 'x', d: true }, 1_000)).toBe(JSON.stringify({ a: [1, { b: null }], c: 'x', d: true }).length);
    expect(failure(() => validateData({ s: 'x'.repeat(70_000) }, 65_536)).message).toBe('data: 70008 bytes exceeds the limit of 65536');
    expect(failure(() => validateData([1], 1_000)).message).toBe('data: must be a JSON object, got an array');
    expect(failure(() => validateData(null, 1_000)).message).toBe('data: must be a JSON object, got null');
    expect(failure(() => validateData({ a: { b: Number.NaN } }, 1_000)).message).toBe('data: data.a.b is NaN, which is not a JSON number');
    expect(failure(() => validateData({ a: [undefined] }, 1_000)).message).toBe('data: data.a[0] is a undefined, which is not a JSON value');
    expect(failure(() => validateData({ d: new Date(0) }, 1_000)).message).toBe('data: data.d is a Date, which is not a JSON value');
    expect(failure(() => validateData(JSON.parse('{"__proto__": {}}'), 1_000)).message).toMatch(/"__proto__"/);
    // Multi-byte characters count in UTF-8 bytes.
    expect(failure(() => validateData({ s: 'é'.repeat(600) }, 1_000)).message).toBe('data: 1208 bytes exceeds the limit of 1000');
  });

  it('data: depth ≤ 32 (the object itself is depth 1)', () => {
    const nest = (depth: number): Record<string, unknown> => {
      let value: Record<string, unknown> = {};
      for (let i = 1; i < depth; i++) value = { n: value };
      return value;
    };
    expect(() => validateData(nest(32), 10_000)).not.toThrow();
    expect(failure(() => validateData(nest(33), 10_000)).message).toMatch(/^data: nesting depth exceeds the limit of 32 at data(\.n)+$/);
  });

  it('ttlMs and maxLifetimeMs ranges', () => {
    expect(validateTtlMs(1_000)).toBe(1_000);
    expect(validateTtlMs(30 * 86_400_000)).toBe(2_592_000_000);
    expect(failure(() => validateTtlMs(999)).message).toBe('ttlMs: 999 is outside [1000, 2592000000]');
    expect(failure(() => validateTtlMs(2_592_000_001)).field).toBe('ttlMs');
    expect(failure(() => validateTtlMs(1_500.5)).message).toBe('ttlMs: must be an integer, got 1500.5');
    expect(validateMaxLifetimeMs(0)).toBe(0);
    expect(validateMaxLifetimeMs(365 * 86_400_000)).toBe(31_536_000_000);
    expect(failure(() => validateMaxLifetimeMs(500)).message).toBe('maxLifetimeMs: 500 is neither 0 (none) nor within [1000, 31536000000]');
    expect(failure(() => validateMaxLifetimeMs('1')).field).toBe('maxLifetimeMs');
  });

  it('requestId: clientId rules and a non-negative integer seq', () => {
    expect(validateRequestId({ clientId: 'sdk', seq: 0 })).toEqual({ clientId: 'sdk', seq: 0 });
    expect(failure(() => validateRequestId({ clientId: 'sdk', seq: -1 })).message).toMatch(/^requestId\.seq: -1 is outside/);
    expect(failure(() => validateRequestId({ clientId: '', seq: 1 })).field).toBe('requestId.clientId');
  });
});

describe('validateCommand', () => {
  it('returns a clean copy with defaults, dropping unknown fields', () => {
    const cmd = validateCommand(
      { type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'ws', data: {}, extra: 1 },
      { ...limits, defaultTtlMs: 60_000 },
    );
    expect(cmd).toEqual({ type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'ws', data: {}, ttlMs: 60_000, maxLifetimeMs: 0 });
    expect(validateCommand({ type: 'update', sessionId: uuid(1), merge: { a: null } }, limits)).toEqual({
      type: 'update',
      sessionId: uuid(1),
      merge: { a: null },
      expectedVersion: 0,
      ttlMs: 0,
    });
  });

  it('without defaultTtlMs a create needs an explicit TTL', () => {
    expect(failure(() => validateCommand({ type: 'create', sessionId: uuid(1), clientId: 'a', transport: 'ws', data: {} }, limits)).field).toBe('ttlMs');
  });

  it('names the field of every command', () => {
    expect(failure(() => validateCommand({ type: 'update', sessionId: uuid(1), merge: { a: 1 }, expectedVersion: -1 }, limits)).field).toBe('expectedVersion');
    expect(failure(() => validateCommand({ type: 'update', sessionId: uuid(1), merge: 'x' }, limits)).message).toBe('merge: must be a JSON object, got "x"');
    expect(failure(() => validateCommand({ type: 'update', sessionId: uuid(1), merge: {}, ttlMs: 5 }, limits)).field).toBe('ttlMs');
    expect(failure(() => validateCommand({ type: 'touch' }, limits)).field).toBe('sessionId');
    expect(failure(() => validateCommand({ type: 'deleteByClient', clientId: '' }, limits)).field).toBe('clientId');
    expect(failure(() => validateCommand({ type: 'expire', sessionIds: [uuid(1), 'x.y'] }, limits)).field).toBe('sessionIds[1]');
    expect(failure(() => validateCommand({ type: 'expire', sessionIds: Array(1_001).fill(uuid(1)) }, limits)).message).toBe(
      'sessionIds: 1001 ids exceed the limit of 1000',
    );
    expect(failure(() => validateCommand({ type: 'drop' }, limits)).message).toBe('command.type: unknown command type "drop"');
    expect(failure(() => validateCommand(null, limits)).field).toBe('command');
  });
});

describe('options', () => {
  it('defaults, frozen', () => {
    const o = resolveSessionStateMachineOptions();
    expect(o).toEqual({ defaultTtlMs: 3_600_000, dataBytesMax: 65_536, dedupEntriesMax: 100_000, dedupEntriesPerClientMax: 1_000, dedupBytesMax: 67_108_864 });
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(new SessionStateMachine({ dataBytesMax: 1_024 }).options)).toBe(true);
  });

  it('undefined means default', () => {
    expect(resolveSessionStateMachineOptions({ defaultTtlMs: undefined }).defaultTtlMs).toBe(3_600_000);
  });

  it('RangeError on nonsense, naming the option', () => {
    expect(() => resolveSessionStateMachineOptions({ defaultTtlMs: 10 })).toThrow(RangeError);
    expect(() => resolveSessionStateMachineOptions({ dedupEntriesMax: 0 })).toThrow(/dedupEntriesMax/);
    expect(() => resolveSessionStateMachineOptions({ dataBytesMax: 1.5 })).toThrow(/dataBytesMax/);
    expect(() => resolveSessionStateMachineOptions({ dedupMax: 1 } as never)).toThrow(/unknown option "dedupMax"/);
  });
});
