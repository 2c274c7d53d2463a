// Processes the harness starts, and only those: each is recorded by pid when it is spawned and
// stopped by that pid (SIGTERM, then SIGKILL after a grace period). Also: ports, CPU time, apt.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** pid → { name, child } of every server process this harness spawned and has not yet seen exit. */
const owned = new Map();

/**
 * Starts `cmd args` in its own process group (a terminal's Ctrl-C reaches the harness, which
 * then stops the servers in order), output appended to `logFile`. Returns the pid.
 */
export function startServer(name, cmd, args, logFile) {
  const fd = openSync(logFile, 'a');
  let child;
  try {
    child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  const entry = { name, child, exited: false };
  child.on('exit', () => {
    entry.exited = true;
  });
  child.on('error', () => {
    entry.exited = true;
  });
  owned.set(child.pid, entry);
  return child.pid;
}

export function serverAlive(pid) {
  const entry = owned.get(pid);
  return entry !== undefined && !entry.exited;
}

/** SIGTERM to each pid we started (of those given), SIGKILL after `graceMs`; waits for the exits. */
export async function stopServers(pids, graceMs = 10_000) {
  const live = pids.filter((pid) => serverAlive(pid));
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + graceMs;
  while (live.some((pid) => serverAlive(pid)) && Date.now() < deadline) await sleep(50);
  for (const pid of live) {
    if (!serverAlive(pid)) continue;
    console.error(`${owned.get(pid).name} (pid ${pid}) did not stop in ${graceMs} ms; sending SIGKILL`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  const killDeadline = Date.now() + 5_000;
  while (live.some((pid) => serverAlive(pid)) && Date.now() < killDeadline) await sleep(50);
  for (const pid of pids) if (!serverAlive(pid)) owned.delete(pid);
}

/** Every server we started that has not exited yet (for the last-resort cleanup). */
export function ownedPids() {
  return [...owned.keys()].filter((pid) => serverAlive(pid));
}

/**
 * A pid that some other program started for us (the sessionraft CLI's detached nodes): alive,
 * not a zombie, and its command line still contains `mark`.
 */
export function foreignAlive(pid, mark) {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(mark)) return false;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

const CLK_TCK = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(out.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** utime + stime of `pid` in microseconds (fields 14 and 15 of /proc/<pid>/stat); 0 if gone. */
export function processCpuUs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Busy (non-idle, non-iowait, non-steal) CPU time of the whole machine in microseconds. */
export function machineBusyUs() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq] = cpu;
  return ((user + nice + system + irq + softirq) * 1e6) / CLK_TCK;
}

/** True if something accepts TCP connections on 127.0.0.1:port. */
export function portInUse(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitForPort(port, timeoutMs, alive = () => true) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await portInUse(port)) return;
    if (!alive()) throw new Error(`the process exited before listening on 127.0.0.1:${port}`);
    await sleep(100);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** The last `n` lines of a log file, for error messages. */
export function logTail(file, n = 15) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The first of `candidates` that is an executable on PATH or an absolute path that exists. */
export function findBinary(candidates) {
  for (const name of candidates) {
    if (name.startsWith('/')) {
      if (existsSync(name)) return name;
      continue;
    }
    const out = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    const found = out.stdout?.trim();
    if (out.status === 0 && found) return found;
  }
  return undefined;
}

/**
 * Runs a command to completion, output appended to `logFile`; resolves to its exit code.
 * `detached`: in its own process group, so a terminal's Ctrl-C does not cut it short (the
 * sessionraft CLI's cluster up/down, which the harness itself sees through).
 */
export function runLogged(cmd, args, logFile, { env = process.env, detached = false } = {}) {
  return new Promise((resolve) => {
    const fd = openSync(logFile, 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env, detached });
    closeSync(fd);
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
