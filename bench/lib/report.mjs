// The sitting's table, and sessionraft ÷ each peer.

const fmt = (x, digits = 0) =>
  x === null || x === undefined ? '—' : Number(x).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (a, b) => (a === null || b === null || a === undefined || b === undefined || b === 0 ? '—' : (a / b).toFixed(2));

function variantOf(row) {
  return [row.durability, row.consistency].filter(Boolean).join(' ') || '—';
}

function table(header, lines) {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${l.join(' | ')} |`)].join('\n');
}

export function renderReport(rows, peers) {
  const out = [];
  const measured = rows.filter((r) => !r.skipped && !r.failed);
  if (measured.length > 0) out.push(
    table(
      ['workload', 'C', 'system', 'mode', 'ops/s', 'p50 ms', 'p99 ms', 'p999 ms', 'server CPU µs/op', 'errors', 'other cores'],
      measured.map((r) => [
        r.workload,
        r.concurrency,
        r.system,
        variantOf(r),
        fmt(r.ops_per_s),
        fmt(r.p50_ms, 2),
        fmt(r.p99_ms, 2),
        fmt(r.p999_ms, 2),
        fmt(r.server_cpu_us_per_op),
        r.errors,
        fmt(r.other_cores, 2),
      ]),
    ),
  );
  for (const r of rows.filter((x) => x.skipped || x.failed)) {
    const key = `${r.system}`;
    if (out.some((l) => l.startsWith(`${key}: `))) continue;
    out.push(`${key}: ${r.skipped ? `SKIPPED: ${r.skipped}` : `FAILED: ${r.failed}`}`);
  }
  const ours = measured.filter((r) => r.system === 'sessionraft');
  for (const peer of peers) {
    const lines = [];
    for (const r of ours) {
      const p = measured.find((x) => x.system === peer && x.workload === r.workload && x.concurrency === r.concurrency);
      if (!p) continue;
      lines.push([
        r.workload,
        r.concurrency,
        variantOf(r),
        ratio(r.ops_per_s, p.ops_per_s),
        ratio(r.p50_ms, p.p50_ms),
        ratio(r.p99_ms, p.p99_ms),
        ratio(r.server_cpu_us_per_op, p.server_cpu_us_per_op),
        `${fmt(p.server_cpu_us_per_op)} → ${fmt(r.server_cpu_us_per_op)}`,
      ]);
    }
    if (lines.length === 0) continue;
    out.push('');
    out.push(`sessionraft ÷ ${peer} (ops/s > 1: we are faster; latency and CPU < 1: we are lower):`);
    out.push(table(['workload', 'C', 'sessionraft mode', 'ops/s', 'p50', 'p99', 'CPU/op', `CPU µs/op (${peer} → ours)`], lines));
  }
  return out.join('\n');
}
