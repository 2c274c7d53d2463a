/**
 * AdminService.Status for the status and cluster commands, through the client.
 */
import { SessionClient, type NodeStatus } from '../client/index.js';
import type { ClientConnection } from './client-connection.js';

export type NodeStatusReply = NodeStatus;

/**
 * Status of one node, or an Error saying why it could not be had within `timeoutMs`;
 * `connection`: TLS and token (client-connection.ts), plaintext without.
 */
export async function fetchStatus(address: string, timeoutMs = 1_000, connection: ClientConnection = {}): Promise<NodeStatusReply> {
  const client = await SessionClient.connect({ ...connection, endpoints: [address], connectTimeoutMs: timeoutMs, retriesMax: 0 });
  try {
    return await client.status(address, { deadlineMs: timeoutMs });
  } finally {
    client.close();
  }
}

export function formatStatusTable(rows: readonly { address: string; status?: NodeStatusReply; error?: string }[]): string {
  const header = ['node', 'address', 'role', 'term', 'leader', 'commit', 'applied', 'digest'];
  const lines = rows.map(({ address, status, error }) =>
    status
      ? [
          String(status.nodeId),
          address,
          status.role,
          String(status.term),
          String(status.leaderId || '-'),
          String(status.commitIndex),
          String(status.appliedIndex),
          status.stateDigest.slice(0, 12),
        ]
      : ['?', address, `down (${error ?? 'no answer'})`, '', '', '', '', ''],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [format(header), ...lines.map(format)].join('\n');
}

/**
 * Why these rows do not show a healthy cluster, or undefined: every node answered and they all
 * follow one leader that says it leads.
 */
export function clusterProblem(rows: readonly { address: string; status?: NodeStatusReply; error?: string }[]): string | undefined {
  const down = rows.filter((r) => !r.status).map((r) => r.address);
  if (down.length > 0) return `no answer from ${down.join(', ')}`;
  const leaders = new Set(rows.map((r) => r.status!.leaderId));
  if (leaders.has(0)) return `no leader known to ${rows.filter((r) => r.status!.leaderId === 0).map((r) => r.address).join(', ')}`;
  if (leaders.size > 1) return `nodes disagree on the leader (${[...leaders].join(', ')})`;
  const leaderId = [...leaders][0]!;
  const leader = rows.find((r) => r.status!.nodeId === leaderId);
  if (leader && leader.status!.role !== 'leader') return `node ${leaderId} is named leader but is ${leader.status!.role}`;
  return undefined;
}

/** Status of each address, or why it did not answer. */
export function fetchStatuses(
  addresses: readonly string[],
  timeoutMs: number,
  connection: ClientConnection = {},
): Promise<{ address: string; status?: NodeStatusReply; error?: string }[]> {
  return Promise.all(
    addresses.map(async (address) => {
      try {
        return { address, status: await fetchStatus(address, timeoutMs, connection) };
      } catch (error) {
        return { address, error: (error as Error).message.split('\n')[0] };
      }
    }),
  );
}
