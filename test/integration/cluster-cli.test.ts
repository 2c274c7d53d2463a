/**
 * The `sessionraft cluster` command as a user runs it (`make cluster` runs `cluster run`):
 * detached up / status / kill / restart / down, and the foreground run stopped with Ctrl-C.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../src/cli/cluster-command.js';
import { cliPath, freeClusterBasePort, runCli, sleep } from './harness.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'sessionraft-cli-'));



const cli = runCli;

/** The CLI without blocking this process's event loop (a `cluster run` child keeps writing to our pipes meanwhile). */
function cliAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

function recordedPid(dir: string, id: number): number | undefined {
  const file = path.join(dir, `n${id}`, 'node.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
}

/** The process group of `pid` (field 5 of /proc/pid/stat). */
function processGroup(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);
}

/**
 * `cluster run` in its own process group, as a shell runs a foreground job: ctrlC() signals the
 * whole group, as a terminal's Ctrl-C does.
 */
async function startForeground(dir: string): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null>; ctrlC: () => void }> {
  const base = String(await freeClusterBasePort());
  const child = spawn(process.execPath, [cliPath, 'cluster', 'run', '--data-dir', dir, '--base-port', base, '--', '--tick-ms', '50'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!output.includes('Press Ctrl-C') && child.exitCode === null && Date.now() < deadline) await sleep(100);
  expect(output).toMatch(/Press Ctrl-C/);
  return { child, output: () => output, exited, ctrlC: () => process.kill(-child.pid!, 'SIGINT') };
}

/** The base port `cluster run` printed in its connect hint. */
function portOf(output: string): number {
  const match = /Connect: endpoints 127\.0\.0\.1:(\d+)/.exec(output);
  if (!match) throw new Error(`no connect hint in:\n${output}`);
  return Number(match[1]);
}

function recordedPids(dir: string): number[] {
  return [1, 2, 3]
    .map((k) => path.join(dir, `n${k}`, 'node.pid'))
    .filter((file) => existsSync(file))
    .map((file) => Number(readFileSync(file, 'utf8').trim()));
}

afterAll(() => {
  // Whatever a failed test left running: only the pids this test's cluster recorded.
  for (const sub of ['detached', 'foreground', 'restart-ctrl-c', 'restart-down']) {
    for (const pid of recordedPids(path.join(dataDir, sub))) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('sessionraft cluster', () => {
  it('prints help and refuses nonsense with a clear message', () => {
    const help = cli(['cluster', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: sessionraft cluster <action>/);
    const bad = cli(['cluster', 'explode']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/expected an action/);
    const badNode = cli(['node', '--id', 'x', '--peers', '1=127.0.0.1:1', '--data-dir', dataDir]);
    expect(badNode.status).toBe(2);
    expect(badNode.stderr).toMatch(/--id: expected a non-negative integer, got 'x'/);
  });

  it('starts detached, reports status, survives kill -9 and restart of a node, and stops', async () => {
    const dir = path.join(dataDir, 'detached');
    const base = String(await freeClusterBasePort());
    const common = ['--data-dir', dir, '--base-port', base, '--', '--tick-ms', '50'];
    const up = cli(['cluster', 'up', ...common]);
    expect(up.status, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/leader: node \d/);
    const pids = recordedPids(dir);
    expect(pids).toHaveLength(3);

    const status = cli(['cluster', 'status', '--data-dir', dir, '--base-port', base]);
    expect(status.stdout.match(/^\d\s+127\.0\.0\.1:\d+\s+(leader|follower)\b/gm)).toHaveLength(3);

    const killed = cli(['cluster', 'kill', '2', '--data-dir', dir, '--base-port', base]);
    expect(killed.status, killed.stderr).toBe(0);
    await sleep(200);
    expect(processAlive(pids[1]!)).toBe(false);
    const degraded = cli(['cluster', 'status', '--data-dir', dir, '--base-port', base]);
    expect(degraded.status).toBe(1);
    expect(degraded.stdout).toMatch(/down/);
    expect(degraded.stderr).toMatch(/unhealthy: no answer from 127\.0\.0\.1:/);
    const degradedJson = cli(['cluster', 'status', '--json', '--data-dir', dir, '--base-port', base]);
    expect(degradedJson.status).toBe(1);
    const rows = JSON.parse(degradedJson.stdout) as { address: string; status?: { role: string }; error?: string }[];
    expect(rows.map((r) => r.address)).toEqual([0, 1, 2].map((i) => `127.0.0.1:${Number(base) + i}`));
    expect(rows.map((r) => r.error === undefined)).toEqual([true, false, true]);

    const restarted = cli(['cluster', 'restart', '2', '--data-dir', dir, '--base-port', base]);
    expect(restarted.status, restarted.stderr).toBe(0);
    const newPid = recordedPids(dir)[1]!;
    expect(processAlive(newPid)).toBe(true);
    const deadline = Date.now() + 20_000;
    let healthy = cli(['cluster', 'status', '--data-dir', dir, '--base-port', base]);
    while (healthy.status !== 0 && Date.now() < deadline) {
      await sleep(200);
      healthy = cli(['cluster', 'status', '--data-dir', dir, '--base-port', base]);
    }
    expect(healthy.status, healthy.stderr).toBe(0);

    const down = cli(['cluster', 'down', '--data-dir', dir, '--base-port', base]);
    expect(down.status, down.stderr).toBe(0);
    for (const pid of [pids[0]!, newPid, pids[2]!]) expect(processAlive(pid)).toBe(false);
  });

  it('runs in the foreground, prints how to connect, and stops every node on Ctrl-C', async () => {
    const dir = path.join(dataDir, 'foreground');
    const base = String(await freeClusterBasePort());
    const child = spawn(process.execPath, [cliPath, 'cluster', 'run', '--data-dir', dir, '--base-port', base, '--', '--tick-ms', '50'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      while (!output.includes('Press Ctrl-C') && Date.now() < deadline) await sleep(100);
      expect(output).toMatch(/Connect: endpoints 127\.0\.0\.1:/);
      expect(output).toMatch(/^n[123] \| .*node started/m);
      const pids = recordedPids(dir);
      expect(pids).toHaveLength(3);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      for (const pid of pids) expect(processAlive(pid)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('stops a node that cluster restart started outside its process group on Ctrl-C, and keeps its pid file while it runs', async () => {
    const dir = path.join(dataDir, 'restart-ctrl-c');
    const run = await startForeground(dir);
    try {
      const [pid1, oldPid2, pid3] = recordedPids(dir);
      const restarted = await cliAsync(['cluster', 'restart', '2', '--data-dir', dir, '--base-port', String(portOf(run.output()))]);
      expect(restarted.status, restarted.stderr).toBe(0);
      const newPid2 = recordedPid(dir, 2)!;
      expect(newPid2).not.toBe(oldPid2);
      expect(processAlive(newPid2)).toBe(true);
      // The bug's cause: the restarted node is not in the group a terminal's Ctrl-C reaches.
      expect(processGroup(newPid2)).not.toBe(run.child.pid);
      // cluster run saw its old child 2 exit and adopted the new one; the new pid file stays.
      const deadline = Date.now() + 5_000;
      while (!run.output().includes(`restarted outside this process as pid ${newPid2}`) && Date.now() < deadline) await sleep(100);
      expect(run.output()).toContain(`n2 | restarted outside this process as pid ${newPid2}`);
      expect(recordedPid(dir, 2)).toBe(newPid2);

      run.ctrlC();
      expect(await run.exited).toBe(0);
      for (const pid of [pid1!, oldPid2!, pid3!, newPid2]) expect({ pid, alive: processAlive(pid) }).toEqual({ pid, alive: false });
      expect(recordedPids(dir)).toEqual([]);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
  });

  it("stops on 'cluster down' with a restarted node, every node stopped and cluster run ended", async () => {
    const dir = path.join(dataDir, 'restart-down');
    const run = await startForeground(dir);
    try {
      const base = String(portOf(run.output()));
      const restarted = await cliAsync(['cluster', 'restart', '3', '--data-dir', dir, '--base-port', base]);
      expect(restarted.status, restarted.stderr).toBe(0);
      const pids = recordedPids(dir);
      expect(pids).toHaveLength(3);
      const down = await cliAsync(['cluster', 'down', '--data-dir', dir, '--base-port', base]);
      expect(down.status, down.stderr).toBe(0);
      for (const pid of pids) expect({ pid, alive: processAlive(pid) }).toEqual({ pid, alive: false });
      expect(await run.exited).toBe(0);
      expect(recordedPids(dir)).toEqual([]);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
  });
});
