/**
 * `sessionraft status`: one line per node (role, term, leader, commit, applied, state digest).
 */
import { parseArgs } from 'node:util';
import { fetchStatus, formatStatusTable } from './admin.js';

export function statusHelp(): string {
  return [
    'Usage: sessionraft status [--endpoints host:port,...] [--json]',
    '',
    'Asks every endpoint for its status (AdminService.Status) and prints a table.',
    '',
    '  --endpoints   nodes to ask (default 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003)',
    '  --timeout-ms  per-node deadline (default 1000)',
    '  --json        print the raw replies as JSON',
  ].join('\n');
}

export async function runStatus(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { endpoints: { type: 'string' }, json: { type: 'boolean' }, 'timeout-ms': { type: 'string' } },
    strict: true,
  });
  const endpoints = (values.endpoints ?? '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003').split(',').filter(Boolean);
  const timeoutMs = Number(values['timeout-ms'] ?? 1000);
  const rows = await Promise.all(
    endpoints.map(async (address) => {
      try {
        return { address, status: await fetchStatus(address, timeoutMs) };
      } catch (error) {
        return { address, error: (error as Error).message.split('\n')[0] };
      }
    }),
  );
  console.log(values.json ? JSON.stringify(rows, null, 2) : formatStatusTable(rows));
  if (rows.every((r) => !r.status)) process.exitCode = 1;
}
