/**
 * `sessionraft node` configuration: flags over SESSIONRAFT_* environment over the --config file
 * over defaults, and clear errors for bad input.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError, nodeHelp, nodeOptionsFromArgs, parsePeers } from '../../../src/cli/node-command.js';

const PEERS = '1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003';
const dirs: string[] = [];
const envKeys: string[] = [];

function setEnv(key: string, value: string): void {
  envKeys.push(key);
  process.env[key] = value;
}

afterEach(() => {
  for (const key of envKeys.splice(0)) delete process.env[key];
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('sessionraft node options', () => {
  it('reads the shipped example config files', () => {
    for (const k of [1, 2, 3]) {
      const { options } = nodeOptionsFromArgs(['--config', path.resolve('cluster', `node${k}.json`)]);
      expect(options.id).toBe(k);
      expect(options.listenAddress).toBe(`127.0.0.1:700${k}`);
      expect(options.peers.size).toBe(3);
      expect(options.clusterId).toBe('local');
    }
  });

  it('takes flags over the environment over the config file over defaults', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-cli-'));
    dirs.push(dir);
    const file = path.join(dir, 'node.json');
    writeFileSync(file, JSON.stringify({ id: 2, peers: PEERS, dataDir: '/from/file', tickMs: 70, 'ttl-ms': 5_000 }));
    setEnv('SESSIONRAFT_TICK_MS', '60');
    const { options } = nodeOptionsFromArgs(['--config', file, '--data-dir', '/from/flag']);
    expect(options.dataDir).toBe('/from/flag');
    expect(options.tickIntervalMs).toBe(60);
    expect(options.defaultTtlMs).toBe(5_000);
    expect(options.electionTimeoutTicks).toBe(10);
    expect(options.defaultDurability).toBe('sync');
  });

  it('takes --fault-file (tests only) from a flag or the environment, and none by default', () => {
    const base = ['--id', '1', '--peers', PEERS, '--data-dir', '/tmp/x'];
    expect(nodeOptionsFromArgs(base).faultFile).toBeUndefined();
    expect(nodeOptionsFromArgs([...base, '--fault-file', '/tmp/f.json']).faultFile).toBe('/tmp/f.json');
    setEnv('SESSIONRAFT_FAULT_FILE', '/tmp/env.json');
    expect(nodeOptionsFromArgs(base).faultFile).toBe('/tmp/env.json');
  });

  it('takes --http-listen from a flag, the environment or the config file, and none by default', () => {
    const base = ['--id', '1', '--peers', PEERS, '--data-dir', '/tmp/x'];
    expect(nodeOptionsFromArgs(base).httpListen).toBeUndefined();
    expect(nodeOptionsFromArgs([...base, '--http-listen', '127.0.0.1:8001']).httpListen).toEqual({ host: '127.0.0.1', port: 8001 });
    setEnv('SESSIONRAFT_HTTP_LISTEN', '127.0.0.1:9001');
    expect(nodeOptionsFromArgs(base).httpListen).toEqual({ host: '127.0.0.1', port: 9001 });
    const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-cli-'));
    dirs.push(dir);
    const file = path.join(dir, 'node.json');
    writeFileSync(file, JSON.stringify({ httpListen: '[::1]:8002' }));
    expect(nodeOptionsFromArgs([...base, '--config', file, '--http-listen', '127.0.0.1:8003']).httpListen?.port).toBe(8003);
    delete process.env.SESSIONRAFT_HTTP_LISTEN;
    expect(nodeOptionsFromArgs([...base, '--config', file]).httpListen).toEqual({ host: '::1', port: 8002 });
    expect(() => nodeOptionsFromArgs([...base, '--http-listen', '8001'])).toThrow(/--http-listen: expected HOST:PORT/);
    expect(() => nodeOptionsFromArgs([...base, '--http-listen', '8001'])).toThrow(UsageError);
  });

  it('lists --http-listen in the help', () => {
    expect(nodeHelp()).toMatch(/^ {2}--http-listen +host:port to serve GET \/metrics, \/healthz and \/readyz/m);
  });

  it('names what is wrong', () => {
    const base = ['--peers', PEERS, '--data-dir', '/tmp/x'];
    expect(() => nodeOptionsFromArgs(base)).toThrow(/--id is required/);
    expect(() => nodeOptionsFromArgs(['--id', '4', ...base])).toThrow(/--listen is required when --peers does not name node 4/);
    expect(() => nodeOptionsFromArgs(['--id', '1', ...base, '--durability', 'maybe'])).toThrow(/--durability: expected sync or async, got 'maybe'/);
    expect(() => nodeOptionsFromArgs(['--id', '1', ...base, '--tick-ms', '5ms'])).toThrow(UsageError);
    expect(() => nodeOptionsFromArgs(['--id', '1', ...base, '--heartbeat-ticks', '10'])).toThrow(/heartbeatIntervalTicks/);
    expect(() => nodeOptionsFromArgs(['--id', '1', ...base, '--config', '/nonexistent.json'])).toThrow(/--config \/nonexistent.json/);
    expect(() => nodeOptionsFromArgs(['--id', '1', ...base, '--bogus', '1'])).toThrow(/bogus/);
    expect(() => parsePeers('1=a:1,1=b:2')).toThrow(/node id 1 appears twice/);
    expect(() => parsePeers('one=a:1')).toThrow(/expected id=host:port, got 'one=a:1'/);
    expect(() => nodeOptionsFromArgs(['--id', '1', ...base, '--stream-unsent-bytes-max', '1000'])).toThrow(
      /--stream-unsent-bytes-max: batchUnsentBytesMax must be at least twice the largest result/,
    );
    expect(nodeOptionsFromArgs(['--id', '1', ...base, '--stream-unsent-bytes-max', '8388608']).streamUnsentBytesMax).toBe(8_388_608);
  });
});
