/**
 * The node's logger: JSON lines with no repeated key, pino-pretty lines in local time with the
 * module in brackets and an error's stack, and the choice between them (--log-format, else
 * pretty on a terminal only).
 */
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeLogger, prettyLogFormatter } from '../../../src/cli/logger.js';
import { nodeOptionsFromArgs } from '../../../src/cli/node-command.js';
import { duplicateKeys } from '../../support/json-keys.js';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => void (text += chunk.toString()));
  return { stream, text: () => text };
}

/** `HH:MM:ss.l` of a time in this process's time zone, as pino-pretty's SYS: prints it. */
function localTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

describe('duplicateKeys (the test helper)', () => {
  it('names keys repeated in one object, at any depth, and nothing else', () => {
    expect(duplicateKeys('{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}')).toEqual([]);
    expect(duplicateKeys('{"module":"node","x":"\\"module\\":","module":"transport"}')).toEqual(['$.module']);
    expect(duplicateKeys('{"err":{"code":1,"code":2},"list":[{"k":1,"k":1}]}')).toEqual(['$.err.code', '$.list[].k']);
    expect(() => duplicateKeys('{"a":')).toThrow(SyntaxError);
  });
});

describe('JSON lines', () => {
  it('carry nodeId once, no pid or hostname, and each module once on a child of the root', async () => {
    const out = capture();
    const logger = createNodeLogger({ level: 'info', format: 'json', nodeId: 3, destination: out.stream });
    logger.child({ module: 'server' }).error({ err: Object.assign(new Error('disk gone'), { code: 'EIO' }) }, 'write failed');
    logger.flush();
    await new Promise((r) => setImmediate(r));
    const line = out.text().trim();
    expect(duplicateKeys(line)).toEqual([]);
    const record = JSON.parse(line) as Record<string, unknown>;
    expect(record).toMatchObject({ nodeId: 3, module: 'server', msg: 'write failed', err: { message: 'disk gone', code: 'EIO' } });
    expect(record).not.toHaveProperty('pid');
    expect(record).not.toHaveProperty('hostname');
  });
});

describe('pretty lines (pino-pretty)', () => {
  const previousTz = process.env.TZ;
  afterEach(() => {
    if (previousTz === undefined) delete process.env.TZ;
    else process.env.TZ = previousTz;
  });

  it('show the local time, the level, the module in brackets and the other fields on one line', () => {
    process.env.TZ = 'Asia/Kolkata'; // +05:30 all year: local time differs from UTC in hours and minutes
    const time = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
    const line = JSON.stringify({ level: 40, time, nodeId: 1, module: 'transport', msg: 'peer stream lost', peer: 2, why: 'connection reset' });
    expect(localTime(time)).toBe('08:34:05.006');
    expect(prettyLogFormatter({ colorize: false })(line)).toBe('[08:34:05.006] WARN: [transport] peer stream lost {"peer":2,"why":"connection reset"}');
  });

  it('pass lines that are not pino JSON through unchanged', () => {
    const pretty = prettyLogFormatter({ colorize: false });
    expect(pretty('plain text')).toBe('plain text');
    expect(pretty('{not json')).toBe('{not json');
  });

  it("print an error's stack below its line", async () => {
    const out = capture();
    const logger = createNodeLogger({ level: 'info', format: 'pretty', nodeId: 1, destination: out.stream, colorize: false });
    const error = new Error('invariant broken: applied 7 > commit 5');
    logger.child({ module: 'node' }).fatal({ err: error }, 'node loop failed');
    await new Promise((r) => setImmediate(r));
    const lines = out.text().split('\n');
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] FATAL: \[node\] node loop failed/);
    expect(out.text()).toContain('invariant broken: applied 7 > commit 5');
    // every frame of the stack, not just its message
    const frames = error.stack!.split('\n').slice(1).map((f) => f.trim());
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) expect(out.text()).toContain(frame);
  });
});

describe('the format a node picks', () => {
  const base = ['--id', '1', '--peers', '1=127.0.0.1:7001', '--data-dir', '/tmp/unused'];
  const wasTty = process.stdout.isTTY;
  afterEach(() => {
    Object.defineProperty(process.stdout, 'isTTY', { value: wasTty, configurable: true });
  });

  it('is --log-format when given, else pretty on a terminal and JSON otherwise', () => {
    expect(nodeOptionsFromArgs([...base, '--log-format', 'json']).logFormat).toBe('json');
    expect(nodeOptionsFromArgs([...base, '--log-format', 'pretty']).logFormat).toBe('pretty');
    expect(() => nodeOptionsFromArgs([...base, '--log-format', 'text'])).toThrow(/--log-format: expected json or pretty, got 'text'/);
    Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true });
    expect(nodeOptionsFromArgs(base).logFormat).toBe('pretty');
    expect(nodeOptionsFromArgs([...base, '--log-format', 'json']).logFormat).toBe('json');
    Object.defineProperty(process.stdout, 'isTTY', { value: undefined, configurable: true });
    expect(nodeOptionsFromArgs(base).logFormat).toBe('json');
  });
});
