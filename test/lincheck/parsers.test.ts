import { describe, expect, it } from 'vitest';
import { parseJepsenEtcdLog, parseJepsenExpected, parseKvLog } from './index.js';

const jepsen = (lines: string[]): string => lines.map((l) => `INFO  jepsen.util - ${l.replace(/ /g, '\t')}`).join('\n') + '\n';

describe('parseJepsenEtcdLog', () => {
  it('reads ok, fail and info completions like Porcupine', () => {
    const ops = parseJepsenEtcdLog(
      jepsen([
        '0 :invoke :read nil',
        '1 :invoke :write 4',
        '2 :invoke :cas [4 1]',
        '3 :invoke :cas [0 2]',
        '4 :invoke :read nil',
        '0 :ok :read nil',
        '1 :info :write :timed-out',
        '2 :ok :cas [4 1]',
        '3 :fail :cas [0 2]',
        '4 :fail :read :timed-out',
        '5 :invoke :write 3',
        '6 :invoke :read nil',
      ]),
    );
    expect(ops).toEqual([
      { clientId: 0, input: { op: 'read' }, call: 0, output: { status: 'ok', value: null }, return: 5 },
      { clientId: 1, input: { op: 'write', value: 4 }, call: 1, output: { status: 'unknown' }, return: Infinity },
      { clientId: 2, input: { op: 'cas', from: 4, to: 1 }, call: 2, output: { status: 'ok' }, return: 7 },
      { clientId: 3, input: { op: 'cas', from: 0, to: 2 }, call: 3, output: { status: 'fail' }, return: 8 },
      // the failed read (4) and the read still open at the end (6) are dropped; the open write stays pending
      { clientId: 5, input: { op: 'write', value: 3 }, call: 10, output: { status: 'unknown' }, return: Infinity },
    ]);
  });

  it('rejects lines it does not understand and mismatched completions', () => {
    expect(() => parseJepsenEtcdLog('something else\n')).toThrow(/line 1/);
    expect(() => parseJepsenEtcdLog(jepsen(['0 :invoke :read nil', '0 :ok :write 1']))).toThrow(/line 2/);
    expect(() => parseJepsenEtcdLog(jepsen(['0 :ok :read 1']))).toThrow(/never invoked/);
    expect(() => parseJepsenEtcdLog(jepsen(['0 :invoke :read nil', '0 :invoke :read nil']))).toThrow(/open/);
  });

  it('reads the verdict file', () => {
    expect([...parseJepsenExpected('0 false\n1 true\n\n')]).toEqual([
      [0, false],
      [1, true],
    ]);
    expect(() => parseJepsenExpected('0 maybe\n')).toThrow(SyntaxError);
  });
});

describe('parseKvLog', () => {
  it('reads get, put and append', () => {
    const ops = parseKvLog(
      [
        '{:process 0, :type :invoke, :f :put, :key "1", :value "x 0 0 y"}',
        '{:process 1, :type :invoke, :f :get, :key "1", :value nil}',
        '{:process 0, :type :ok, :f :put, :key "1", :value "x 0 0 y"}',
        '{:process 1, :type :ok, :f :get, :key "1", :value "x 0 0 y"}',
        '{:process 2, :type :invoke, :f :append, :key "2", :value "x 2 0 y"}',
        '{:process 3, :type :invoke, :f :get, :key "2", :value nil}',
      ].join('\n'),
    );
    expect(ops).toEqual([
      { clientId: 0, input: { op: 'put', key: '1', value: 'x 0 0 y' }, call: 0, output: { value: 'x 0 0 y' }, return: 2 },
      { clientId: 1, input: { op: 'get', key: '1' }, call: 1, output: { value: 'x 0 0 y' }, return: 3 },
      { clientId: 2, input: { op: 'append', key: '2', value: 'x 2 0 y' }, call: 4, output: { value: '' }, return: Infinity },
    ]);
  });

  it('rejects malformed lines', () => {
    expect(() => parseKvLog('{:process 0, :type :info, :f :get, :key "1", :value nil}')).toThrow(/line 1/);
  });
});
