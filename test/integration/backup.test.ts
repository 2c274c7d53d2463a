/**
 * `sessionraft backup` against a real three-node cluster of real processes, the built CLI run as
 * a user runs it: a backup taken while a writer keeps writing holds every write acknowledged
 * before it started, is exactly the state at its header's index (its digest included), and
 * verifies; tampered, truncated, wrong-key and foreign files are refused by `backup verify`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBackupSecret, openBackup, type BackupSecret } from '../../src/backup/index.js';
import { SessionClient } from '../../src/client/index.js';
import { SessionStateMachine } from '../../src/session/index.js';
import { TestCluster, cliPath, sleep } from './harness.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let cluster: TestCluster | undefined;
let client: SessionClient | undefined;
let keyFile = '';
let secret: BackupSecret;

/** The CLI in a child process; never rejects. */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { timeout: 60_000, env: { ...process.env, SESSIONRAFT_ENDPOINTS: '', ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

function endpoints(): string {
  return cluster!.endpoints.join(',');
}

function file(name: string): string {
  return path.join(cluster!.dir, name);
}

const DATA = { cart: [1, 2, 3], profile: 'p'.repeat(250) };

beforeAll(async () => {
  cluster = await TestCluster.start();
  await cluster.waitForLeader();
  client = await SessionClient.connect({ endpoints: [...cluster.endpoints], retriesMax: 10 });
  keyFile = file('backup.key');
  const keygen = await cli(['backup', 'keygen', '--out', keyFile]);
  expect(keygen.code, keygen.stderr).toBe(0);
  expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  secret = await loadBackupSecret({ keyFile });
});

afterAll(async () => {
  client?.close();
  await cluster?.close();
});

describe('sessionraft backup (three real nodes)', () => {
  it('under a writer: holds every write answered before it started, is the state at its index, and verifies', async () => {
    const answered = new Map<string, number>(); // session id → index of its SYNC answer
    const unknown = new Set<string>(); // failed creates: may or may not have happened
    let next = 0;
    let writing = true;
    const writer = async (): Promise<void> => {
      while (writing) {
        const sessionId = `w-${next++}`;
        try {
          const result = await client!.create({ sessionId, clientId: `user-${next % 50}`, transport: 'http', data: DATA }, { durability: 'sync' });
          answered.set(sessionId, result.index);
        } catch {
          unknown.add(sessionId);
        }
      }
    };
    const writers = Array.from({ length: 16 }, () => writer());
    while (answered.size < 2_000) await sleep(50);
    const answeredBefore = new Map(answered);
    const out = file('under-load.srb');
    const backup = await cli(['backup', '--out', out, '--key-file', keyFile, '--endpoints', endpoints(), '--json']);
    await sleep(200);
    writing = false;
    await Promise.all(writers);
    expect(backup.code, backup.stderr).toBe(0);
    const result = JSON.parse(backup.stdout) as { header: { index: number; sessionCount: number }; pairs: number; bytes: number };

    const opened = await openBackup(out, secret);
    const header = opened.header;
    expect(header).toMatchObject({ formatVersion: 1, clusterId: 'it', index: result.header.index, sessionCount: result.header.sessionCount });
    expect(header.members.map((m) => [m.id, m.address, m.voter])).toEqual(cluster!.endpoints.map((address, i) => [i + 1, address, true]));
    expect(header.term).toBeGreaterThanOrEqual(1);
    const pairs: [string, Uint8Array][] = [];
    for await (const [key, value] of opened.pairs()) pairs.push([key, Uint8Array.from(value)]);
    expect(pairs.length).toBe(result.pairs);

    const copied = new Set(pairs.filter(([k]) => k.startsWith('s/')).map(([k]) => k.slice(2)));
    expect(copied.size).toBe(header.sessionCount);
    const maxBefore = Math.max(...answeredBefore.values());
    expect(header.index).toBeGreaterThanOrEqual(maxBefore);
    for (const [id, index] of answeredBefore) if (!copied.has(id)) throw new Error(`${id}, answered at ${index} before the backup, is missing from it (index ${header.index})`);
    // Exactly the state at its index: an answered write is in it if and only if its index is not after it.
    for (const [id, index] of answered) expect(copied.has(id), `${id} answered at ${index}; backup at ${header.index}`).toBe(index <= header.index);
    for (const id of copied) expect(answered.has(id) || unknown.has(id), `${id} was never written`).toBe(true);
    expect([...answered.values()].some((index) => index > header.index), 'writes went on after the copy point').toBe(true);

    const rebuilt = new SessionStateMachine();
    await rebuilt.load(pairs);
    expect(rebuilt.appliedIndex).toBe(header.index);
    expect(rebuilt.digest()).toBe(header.stateDigest);

    const verify = await cli(['backup', 'verify', out, '--key-file', keyFile]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain(`index       ${header.index} (term ${header.term})`);
    expect(verify.stdout).toContain(`sessions    ${header.sessionCount.toLocaleString('en-US')}`);
    expect(verify.stdout.trimEnd().split('\n').at(-1)).toBe('ok');
  });

  it('from a follower that was stopped while the writes were answered: still holds every one of them', async () => {
    const leader = await cluster!.waitForLeader();
    const follower = cluster!.ids.find((id) => id !== leader)!;
    const toLeader = await SessionClient.connect({ endpoints: [cluster!.address(leader)], retriesMax: 10 });
    await cluster!.signal(follower, 'SIGSTOP');
    const answered = new Map<string, number>();
    try {
      await Promise.all(
        Array.from({ length: 500 }, async (_, i) => {
          const sessionId = `behind-${i}`;
          answered.set(sessionId, (await toLeader.create({ sessionId, clientId: 'behind', transport: 'http', data: DATA }, { durability: 'sync' })).index);
        }),
      );
    } finally {
      toLeader.close();
    }
    const out = file('behind.srb');
    // The backup reaches the stopped node, which wakes up only then, behind the leader.
    const running = cli(['backup', '--out', out, '--key-file', keyFile, '--endpoints', cluster!.address(follower), '--timeout-ms', '20000']);
    await sleep(2_500);
    await cluster!.signal(follower, 'SIGCONT');
    const run = await running;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`from node ${follower} `);
    const opened = await openBackup(out, secret);
    const copied = new Set<string>();
    for await (const [key] of opened.pairs()) if (key.startsWith('s/behind-')) copied.add(key.slice(2));
    const missing = [...answered.keys()].filter((id) => !copied.has(id));
    expect(missing.length, `answered before the backup, missing from it: ${missing.slice(0, 5).join(', ')}...`).toBe(0);
    expect(opened.header.index).toBeGreaterThanOrEqual(Math.max(...answered.values()));
  });

  it('takes a backup from a follower alone, and with a passphrase', async () => {
    const leader = await cluster!.waitForLeader();
    const follower = cluster!.ids.find((id) => id !== leader)!;
    const out = file('follower.srb');
    const env = { BACKUP_PASSPHRASE: 'a passphrase long enough' };
    const run = await cli(['backup', '--out', out, '--passphrase-env', 'BACKUP_PASSPHRASE', '--endpoints', cluster!.address(follower)], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`from node ${follower} (${cluster!.address(follower)})`);
    const verify = await cli(['backup', 'verify', out, '--passphrase-env', 'BACKUP_PASSPHRASE', '--json'], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, header: { clusterId: 'it' } });
    const withKey = await cli(['backup', 'verify', out, '--key-file', keyFile]);
    expect(withKey.code).toBe(1);
    expect(withKey.stderr).toContain('encrypted with a passphrase, not a key file: give --passphrase-env');
  });

  it('backup verify refuses tampered, truncated, wrong-key and foreign files with exit 1 and the reason', async () => {
    const good = file('good.srb');
    const made = await cli(['backup', '--out', good, '--key-file', keyFile, '--endpoints', endpoints()]);
    expect(made.code, made.stderr).toBe(0);
    const bytes = readFileSync(good);
    expect(bytes.length).toBeGreaterThan(10_000);

    const tampered = Buffer.from(bytes);
    tampered.writeUInt8(tampered.readUInt8(Math.floor(bytes.length / 2)) ^ 0x20, Math.floor(bytes.length / 2));
    writeFileSync(file('tampered.srb'), tampered);
    writeFileSync(file('truncated.srb'), bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    writeFileSync(file('foreign.srb'), randomBytes(5_000));
    const otherKey = file('other.key');
    expect((await cli(['backup', 'keygen', '--out', otherKey])).code).toBe(0);

    const cases: [string, string[], RegExp][] = [
      ['tampered', [file('tampered.srb'), '--key-file', keyFile], /damaged or tampered: chunk \d+ \(at byte \d+\) does not authenticate/],
      ['truncated', [file('truncated.srb'), '--key-file', keyFile], /truncated: the file ends at byte \d+/],
      ['wrong key', [good, '--key-file', otherKey], /wrong key or passphrase/],
      ['foreign', [file('foreign.srb'), '--key-file', keyFile], /not a sessionraft backup/],
    ];
    for (const [name, args, message] of cases) {
      const run = await cli(['backup', 'verify', ...args]);
      expect(run.code, `${name}: ${run.stderr}`).toBe(1);
      expect(run.stderr, name).toMatch(message);
      expect(run.stdout, name).not.toContain('ok');
    }
    const json = await cli(['backup', 'verify', file('tampered.srb'), '--key-file', keyFile, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'tampered', exitCode: 1 } });
    expect((await cli(['backup', 'verify', good, '--key-file', keyFile])).code).toBe(0);
  });

  it('refuses bad usage before connecting (exit 2), and says when no node answers (exit 24)', async () => {
    writeFileSync(file('exists.srb'), 'something precious');
    const usage: [string[], RegExp][] = [
      [['backup', '--key-file', keyFile], /--out FILE is required/],
      [['backup', '--out', file('x.srb')], /exactly one of --key-file FILE or --passphrase-env VAR/],
      [['backup', '--out', file('x.srb'), '--key-file', keyFile, '--passphrase-env', 'P'], /exactly one/],
      [['backup', '--out', file('x.srb'), '--key-file', path.join(cluster!.dir, 'n1.log')], /expected 32 raw bytes or 64 hexadecimal characters/],
      [['backup', '--out', file('exists.srb'), '--key-file', keyFile], /exists: choose another name, or --force/],
      [['backup', 'verify', file('exists.srb'), '--key-file', file('no-such.key')], /key file .*no-such.key: ENOENT/],
      [['backup', 'verify', '--key-file', keyFile], /expected sessionraft backup verify FILE/],
      [['backup', 'verify', file('exists.srb'), '--key-file', keyFile, '--out', 'x'], /--out does not apply/],
      [['backup', 'keygen'], /--out K is required/],
      [['backup', '--out', file('x.srb'), '--key-file', keyFile, '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of usage) {
      const run = await cli(args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
    }
    expect(readFileSync(file('exists.srb'), 'utf8')).toBe('something precious');
    const down = await cli(['backup', '--out', file('down.srb'), '--key-file', keyFile, '--endpoints', '127.0.0.1:1', '--timeout-ms', '500']);
    expect(down.code, down.stderr).toBe(24);
    expect(down.stderr).toContain('UNAVAILABLE');
    const help = await cli(['backup', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: sessionraft backup --out FILE (--key-file K | --passphrase-env VAR)');
  });
});
