// The closed loop: C workers in this one process, each with exactly one request in flight, all
// sharing one client. A warmup, then a measured window: an operation counts only if it started
// and finished inside the window; its latency is the time around the awaited client call.
import { randomUUID } from 'node:crypto';
import { machineBusyUs, processCpuUs, sleep } from './procs.mjs';

const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';

/** A session record whose JSON is exactly `bytes` long (padded; never shorter than its fields). */
export function sessionRecord(id, bytes) {
  const now = Date.now();
  const record = {
    sid: id,
    uid: `u_${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`,
    iat: now,
    exp: now + 30 * 60_000,
    ip: '127.0.0.1',
    ua: USER_AGENT,
    roles: ['user'],
    csrf: Math.random().toString(36).slice(2, 12).padEnd(10, '0'),
    data: { theme: 'dark', locale: 'en-US', cart: 3 },
    pad: '',
  };
  record.pad = 'x'.repeat(Math.max(0, bytes - JSON.stringify(record).length));
  return record;
}

/** Latencies in nanoseconds; quantiles in milliseconds (nearest rank). */
class Latencies {
  constructor() {
    this.values = new Float64Array(1 << 16);
    this.count = 0;
  }
  add(ns) {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = ns;
  }
  quantiles() {
    const sorted = this.values.slice(0, this.count).sort();
    const at = (q) => (sorted.length === 0 ? null : round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] / 1e6, 3));
    return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: at(1) };
  }
}

const round = (x, digits) => Number(x.toFixed(digits));

/** Writes `n` records with 64 workers; returns their keys (the read set). */
export async function prepopulate(store, n, valueBytes, variant, progress) {
  const keys = new Array(n);
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const key = randomUUID();
      for (let attempt = 1; ; attempt++) {
        try {
          await store.put(key, sessionRecord(key, valueBytes), variant);
          break;
        } catch (error) {
          if (attempt >= 5) throw new Error(`prepopulate: put failed ${attempt} times: ${error.message ?? error}`);
          await sleep(100);
        }
      }
      keys[i] = key;
      done++;
    }
  };
  const timer = setInterval(() => progress(`prepopulating ${done}/${n}`), 250);
  try {
    await Promise.all(Array.from({ length: Math.min(64, n) }, worker));
  } finally {
    clearInterval(timer);
  }
  for (let i = 0; i < Math.min(5, n); i++) await store.get(keys[Math.floor(Math.random() * n)], variant);
  return keys;
}

/**
 * One point: `workload` ('write' | 'read' | 'mix') at concurrency `c` for `warmupS` + `durationS`
 * seconds. `serverPids`' CPU time (utime + stime) is read at both edges of the window.
 */
export async function runPoint({ store, variant, workload, c, warmupS, durationS, readKeys, valueBytes, serverPids, progress }) {
  if (workload !== 'write' && readKeys.length === 0) throw new Error(`${workload}: no pre-written keys to read`);
  const all = new Latencies();
  const writes = new Latencies();
  const reads = new Latencies();
  let windowStart = -1n;
  let windowEnd = -1n;
  let stopping = false;
  let errors = 0;
  let lastError;

  const worker = async () => {
    while (!stopping) {
      const isWrite = workload === 'write' || (workload === 'mix' && Math.random() < 0.5);
      let t0;
      let call;
      if (isWrite) {
        const key = randomUUID();
        const record = sessionRecord(key, valueBytes);
        t0 = process.hrtime.bigint();
        call = store.put(key, record, variant);
      } else {
        const key = readKeys[Math.floor(Math.random() * readKeys.length)];
        t0 = process.hrtime.bigint();
        call = store.get(key, variant);
      }
      try {
        await call;
      } catch (error) {
        if (windowStart > 0n && t0 >= windowStart && windowEnd < 0n) {
          errors++;
          lastError = String(error?.message ?? error).slice(0, 200);
        }
        await sleep(10); // do not spin on a failing store
        continue;
      }
      const t1 = process.hrtime.bigint();
      if (windowStart > 0n && t0 >= windowStart && (windowEnd < 0n || t1 <= windowEnd)) {
        const ns = Number(t1 - t0);
        all.add(ns);
        (isWrite ? writes : reads).add(ns);
      }
    }
  };

  const cpuOf = () => serverPids.reduce((sum, pid) => sum + processCpuUs(pid), 0);
  const workers = Array.from({ length: c }, worker);
  const t0 = Date.now();
  const ticker = setInterval(() => {
    const s = (Date.now() - t0) / 1000;
    if (windowStart < 0n) progress(`warmup ${s.toFixed(0)}/${warmupS}s`);
    else progress(`measuring ${(s - warmupS).toFixed(0)}/${durationS}s  ${all.count} ops  ${errors} errors`);
  }, 250);
  let measured;
  try {
    await sleep(warmupS * 1000);
    const cpu0 = cpuOf();
    const busy0 = machineBusyUs();
    const client0 = process.cpuUsage();
    windowStart = process.hrtime.bigint();
    await sleep(durationS * 1000);
    windowEnd = process.hrtime.bigint();
    const cpu1 = cpuOf();
    const busy1 = machineBusyUs();
    const client1 = process.cpuUsage(client0);
    measured = { serverUs: cpu1 - cpu0, machineUs: busy1 - busy0, clientUs: client1.user + client1.system };
  } finally {
    stopping = true;
    clearInterval(ticker);
  }
  // Let the in-flight requests finish (they are not counted) so the next point starts clean.
  progress('draining');
  await Promise.race([Promise.all(workers), sleep(30_000)]);

  const windowS = Number(windowEnd - windowStart) / 1e9;
  const ops = all.count;
  const q = all.quantiles();
  const perOp = (us) => (ops > 0 ? round(us / ops, 1) : null);
  const row = {
    ops_per_s: round(ops / windowS, 1),
    p50_ms: q.p50,
    p99_ms: q.p99,
    p999_ms: q.p999,
    max_ms: q.max,
    server_cpu_us_per_op: perOp(measured.serverUs),
    client_cpu_us_per_op: perOp(measured.clientUs),
    // Cores busy on the machine outside the servers and this client during the window: a
    // neighbour's load, which makes the point less trustworthy.
    other_cores: round(Math.max(0, measured.machineUs - measured.serverUs - measured.clientUs) / 1e6 / windowS, 2),
    ops,
    errors,
    window_s: round(windowS, 3),
  };
  if (lastError !== undefined) row.last_error = lastError;
  if (workload === 'mix') {
    const w = writes.quantiles();
    const r = reads.quantiles();
    Object.assign(row, { write_p50_ms: w.p50, write_p99_ms: w.p99, read_p50_ms: r.p50, read_p99_ms: r.p99 });
  }
  return row;
}
