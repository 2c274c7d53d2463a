/**
 * The checker against Porcupine's verdicts on its own reference histories, vendored in
 * test/lincheck/porcupine-data (MIT, see its NOTICE.md). A missing data folder fails the test.
 *
 * Jepsen: only logs with a verdict in jepsen_expected.txt are checked. etcd_095.log has none
 * (Porcupine's test skips it: "etcd cluster failed to start up in test 95") and the file is
 * empty; the test asserts exactly that, so a new log without a verdict cannot slip by.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { casRegisterModel, checkOperations, kvModel, parseJepsenEtcdLog, parseJepsenExpected, parseKvLog } from './index.js';

const dataDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'porcupine-data');
/** Far above what any history needs here (the slowest takes well under a second). */
const HISTORY_TIMEOUT_MS = 30_000;

const read = (relative: string): string => readFileSync(path.join(dataDir, relative), 'utf8');
const jepsenFile = (n: number): string => `etcd_${String(n).padStart(3, '0')}.log`;

describe('reference data', () => {
  it('is present', () => {
    expect(existsSync(path.join(dataDir, 'jepsen_expected.txt')), `no reference data at ${dataDir}`).toBe(true);
  });
});

describe('Jepsen etcd histories agree with Porcupine', () => {
  const expected = existsSync(path.join(dataDir, 'jepsen_expected.txt')) ? parseJepsenExpected(read('jepsen_expected.txt')) : new Map<number, boolean>();

  it('has a verdict for every non-empty log and a log for every verdict', () => {
    expect(expected.size).toBe(102);
    const logs = readdirSync(path.join(dataDir, 'jepsen')).filter((f) => /^etcd_\d{3}\.log$/.test(f));
    const withoutVerdict = logs.filter((f) => !expected.has(Number(f.slice(5, 8))));
    expect(withoutVerdict).toEqual(['etcd_095.log']);
    expect(read('jepsen/etcd_095.log').trim()).toBe('');
    for (const n of expected.keys()) expect(logs).toContain(jepsenFile(n));
  });

  it.each([...expected])('etcd_%i: linearizable = %s', (n, linearizable) => {
    const history = parseJepsenEtcdLog(read(`jepsen/${jepsenFile(n)}`));
    expect(history.length).toBeGreaterThan(0);
    // 'unknown' (a timeout) is neither verdict, so it fails here too.
    expect(checkOperations(casRegisterModel, history, { timeoutMs: HISTORY_TIMEOUT_MS })).toBe(linearizable ? 'ok' : 'illegal');
  });
});

describe('kv histories agree with Porcupine', () => {
  const files = existsSync(path.join(dataDir, 'kv')) ? readdirSync(path.join(dataDir, 'kv')).filter((f) => f.endsWith('.txt')).sort() : [];

  it('are all there', () => {
    expect(files).toEqual(['c01-bad.txt', 'c01-ok.txt', 'c10-bad.txt', 'c10-ok.txt', 'c50-bad.txt', 'c50-ok.txt']);
  });

  it.each(files)('%s', (file) => {
    const linearizable = /-ok\.txt$/.test(file);
    expect(linearizable || /-bad\.txt$/.test(file)).toBe(true);
    const history = parseKvLog(read(`kv/${file}`));
    expect(history.length).toBeGreaterThan(0);
    expect(checkOperations(kvModel, history, { timeoutMs: HISTORY_TIMEOUT_MS })).toBe(linearizable ? 'ok' : 'illegal');
  });
});
