/**
 * `sessionraft session ...`, `status` and `--version` run as a user or a script runs them: the
 * built CLI in a child process against a real three-node cluster. Exit codes are the documented
 * ones (2 usage, 10 + gRPC status code of a failed call, status 1 when a node is down).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, cliPath } from './harness.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let cluster: TestCluster | undefined;

function endpoints(): string {
  return cluster!.endpoints.join(',');
}

/** The CLI in a child process; never rejects, resolves with the exit code and both outputs. */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { timeout: 30_000, env: { ...process.env, SESSIONRAFT_ENDPOINTS: '', ...env } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A data command against the test cluster. */
function session(args: readonly string[]): Promise<Run> {
  return cli(['session', ...args, '--endpoints', endpoints()]);
}

function json<T>(run: Run): T {
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as T;
}

interface SessionJson {
  sessionId: string;
  clientId: string;
  transport: string;
  version: number;
  data: Record<string, unknown>;
}

beforeAll(async () => {
  cluster = await TestCluster.start();
  await cluster.waitForLeader();
});

afterAll(async () => {
  await cluster?.close();
});

describe('sessionraft CLI without a cluster', () => {
  it('prints the package version', async () => {
    const manifest = JSON.parse(readFileSync(path.join(path.dirname(cliPath), '../../../package.json'), 'utf8')) as { version: string };
    const run = await cli(['--version']);
    expect(run).toEqual({ code: 0, stdout: `${manifest.version}\n`, stderr: '' });
  });

  it('exits 2 with a message naming the flag on a usage error, before connecting anywhere', async () => {
    const cases: [string[], RegExp][] = [
      [['status', '--timeout-ms', 'abc'], /--timeout-ms: expected an integer, got 'abc'/],
      [['cluster', 'status', '--timeout-ms', '1.5'], /--timeout-ms: expected an integer, got '1.5'/],
      [['session', 'update', '00000000-0000-4000-8000-000000000000', '--expected-version', 'two'], /--expected-version: expected an integer, got 'two'/],
      [['session', 'create', 'alice', '--data', '{not json'], /--data: not valid JSON/],
      [['session', 'create', 'alice', '--ttl-ms', '10'], /--ttl-ms: expected an integer in \[1000, 2592000000\], got '10'/],
      [['session', 'get'], /session get: expected session get SESSION_ID, got 0 argument/],
      [['session', 'frobnicate'], /session: expected an action \(create, get/],
      [['session', 'count', '--endpoints', 'nohost'], /--endpoints: expected host:port, got 'nohost'/],
      [['session', 'get', 'x', '--durability', 'sync'], /--durability does not apply/],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe('');
    }
  });

  it('answers --help on every session action', async () => {
    for (const action of ['create', 'get', 'update', 'touch', 'delete', 'list', 'count', 'delete-by-client']) {
      const run = await cli(['session', action, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^Usage: sessionraft session ${action}\\b`));
    }
  });
});

describe('sessionraft session against a three-node cluster', () => {
  it('creates a session and reads it back as JSON and as a table', async () => {
    const created = json<{ session: SessionJson; index: number; durability: string }>(
      await session(['create', 'alice', '--data', '{"cart":[1,2]}', '--transport', 'http', '--json']),
    );
    expect(created.session).toMatchObject({ clientId: 'alice', transport: 'http', version: 1, data: { cart: [1, 2] } });
    expect(created.durability).toBe('sync');
    const id = created.session.sessionId;

    const read = json<{ session: SessionJson }>(await session(['get', id, '--json']));
    expect(read.session).toEqual(created.session);

    const table = await session(['get', id]);
    expect(table.code, table.stderr).toBe(0);
    const [header, row, ...rest] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^session\s+client\s+transport\s+version\s+ttl_ms\s+expires\s+data$/);
    expect(row).toMatch(new RegExp(`^${id}\\s+alice\\s+http\\s+1\\s+3600000\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+\\{"cart":\\[1,2\\]\\}$`));
    expect(rest).toEqual([]);
  });

  it('creates a session under an id given with --session-id; the same id again exits 16 (ALREADY_EXISTS)', async () => {
    const created = json<{ session: SessionJson }>(await session(['create', 'chooser', '--session-id', 'cli_chosen-1', '--json']));
    expect(created.session.sessionId).toBe('cli_chosen-1');
    const again = await session(['create', 'chooser', '--session-id', 'cli_chosen-1']);
    expect(again.code).toBe(16);
    expect(again.stderr).toMatch(/ALREADY_EXISTS: session cli_chosen-1 already exists/);
  });

  it('reads the endpoints from SESSIONRAFT_ENDPOINTS', async () => {
    const run = await cli(['session', 'count', 'nobody-yet', '--json'], { SESSIONRAFT_ENDPOINTS: endpoints() });
    expect(json<{ count: number }>(run).count).toBe(0);
  });

  it('refuses an update at the wrong version with exit 19 (FAILED_PRECONDITION) and applies it at the right one', async () => {
    const id = json<{ session: SessionJson }>(await session(['create', 'carol', '--json'])).session.sessionId;

    const stale = await session(['update', id, '--data', '{"step":2}', '--expected-version', '2']);
    expect(stale.code).toBe(19);
    expect(stale.stdout).toBe('');
    expect(stale.stderr).toMatch(/^sessionraft: FAILED_PRECONDITION: .*at version 1, not the expected 2/);

    const staleJson = await session(['update', id, '--data', '{"step":2}', '--expected-version', '2', '--json']);
    expect(staleJson.code).toBe(19);
    expect(JSON.parse(staleJson.stderr)).toMatchObject({ error: { code: 'FAILED_PRECONDITION', exitCode: 19 } });

    const updated = json<{ session: SessionJson }>(await session(['update', id, '--data', '{"step":2}', '--expected-version', '1', '--json']));
    expect(updated.session).toMatchObject({ version: 2, data: { step: 2 } });
    const touched = json<{ session: SessionJson }>(await session(['touch', id, '--json']));
    expect(touched.session.version).toBe(3);

    const deleted = await session(['delete', id]);
    expect(deleted).toMatchObject({ code: 0, stdout: 'deleted 1\n' });
    const gone = await session(['get', id]);
    expect(gone.code).toBe(15);
    expect(gone.stderr).toMatch(/^sessionraft: NOT_FOUND: /);
  });

  it('lists and counts a client\'s sessions, and deletes them all by client', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(json<{ session: SessionJson }>(await session(['create', 'bob', '--data', `{"n":${i}}`, '--json'])).session.sessionId);
    await session(['create', 'dave', '--json']);

    const listed = json<{ sessions: SessionJson[] }>(await session(['list', 'bob', '--json']));
    expect(listed.sessions.map((s) => s.sessionId)).toEqual([...ids].sort());
    expect(json<{ sessions: SessionJson[] }>(await session(['list', 'bob', '--limit', '2', '--json'])).sessions).toHaveLength(2);
    const table = await session(['list', 'bob']);
    expect(table.stdout.trimEnd().split('\n')).toHaveLength(4);
    for (const id of ids) expect(table.stdout).toContain(id);

    expect(json<{ count: number }>(await session(['count', 'bob', '--json'])).count).toBe(3);
    expect((await session(['count', 'bob'])).stdout).toBe('3\n');
    const all = json<{ count: number }>(await session(['count', '--json'])).count;
    expect(all).toBeGreaterThanOrEqual(4);

    const removed = await session(['delete-by-client', 'bob']);
    expect(removed).toMatchObject({ code: 0, stdout: 'deleted 3\n' });
    expect(json<{ count: number }>(await session(['count', 'bob', '--json'])).count).toBe(0);
    expect(json<{ count: number }>(await session(['count', '--json'])).count).toBe(all - 3);
    expect((await session(['list', 'bob'])).stdout).toBe("no sessions of client 'bob'\n");
    expect((await session(['count', 'dave'])).stdout).toBe('1\n');
  });

  it('maps a server-side INVALID_ARGUMENT to exit 13', async () => {
    const run = await session(['get', 'not a valid id']);
    expect(run.code).toBe(13);
    expect(run.stderr).toMatch(/INVALID_ARGUMENT: .*session_id/);
  });

  it('status exits 0 on a healthy cluster and 1 once a node is down', async () => {
    const healthy = await cli(['status', '--endpoints', endpoints()]);
    expect(healthy.code, healthy.stderr).toBe(0);
    expect(healthy.stdout.match(/^\d\s+127\.0\.0\.1:\d+\s+(leader|follower)\b/gm)).toHaveLength(3);

    const killed = 2;
    await cluster!.signal(killed, 'SIGKILL');
    const degraded = await cli(['status', '--endpoints', endpoints(), '--timeout-ms', '500']);
    expect(degraded.code).toBe(1);
    expect(degraded.stdout).toMatch(new RegExp(`${cluster!.address(killed).replace(/\./g, '\\.')}\\s+down`));
    expect(degraded.stderr).toMatch(/unhealthy: no answer from /);
    const asJson = await cli(['status', '--endpoints', endpoints(), '--timeout-ms', '500', '--json']);
    expect(asJson.code).toBe(1);
    const rows = JSON.parse(asJson.stdout) as { address: string; status?: unknown; error?: string }[];
    expect(rows.filter((r) => r.error !== undefined).map((r) => r.address)).toEqual([cluster!.address(killed)]);

    // The data commands still work with one node of three down.
    expect(json<{ count: number }>(await session(['count', 'dave', '--json'])).count).toBe(1);
    expect(cluster!.unexpectedExits).toEqual([]);
  });
});
