/**
 * `sessionraft status`: one line per node (role, term, leader, commit, applied, state digest).
 * Exits 1 when a node does not answer or the nodes follow no single leader.
 */
import { parseArgs } from 'node:util';
import { clusterProblem, fetchStatuses, formatStatusTable } from './admin.js';
import { endpointsFlag, integerFlag } from './args.js';
import { CLIENT_CONNECTION_FLAGS, CLIENT_CONNECTION_HELP, clientConnectionFromFlags } from './client-connection.js';

export function statusHelp(): string {
  return [
    'Usage: sessionraft status [--endpoints host:port,...] [--timeout-ms T] [--json] [TLS and token options]',
    '',
    'Asks every endpoint for its status (AdminService.Status) and prints a table.',
    'Exits 0 when every node answered and all follow one leader; 1 otherwise (the reason on stderr).',
    '',
    '  --endpoints   nodes to ask (default $SESSIONRAFT_ENDPOINTS, else 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003)',
    '  --timeout-ms  per-node deadline (default 1000)',
    '  --json        print the replies as JSON: [{address, status} or {address, error}]',
    ...CLIENT_CONNECTION_HELP,
  ].join('\n');
}

export async function runStatus(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { endpoints: { type: 'string' }, json: { type: 'boolean' }, 'timeout-ms': { type: 'string' }, ...CLIENT_CONNECTION_FLAGS },
    strict: true,
  });
  const endpoints = endpointsFlag(values.endpoints);
  const timeoutMs = integerFlag('timeout-ms', values['timeout-ms'], 1, 600_000) ?? 1_000;
  const rows = await fetchStatuses(endpoints, timeoutMs, clientConnectionFromFlags(values));
  console.log(values.json ? JSON.stringify(rows, null, 2) : formatStatusTable(rows));
  const problem = clusterProblem(rows);
  if (problem !== undefined) {
    console.error(`sessionraft: unhealthy: ${problem}`);
    process.exitCode = 1;
  }
}
