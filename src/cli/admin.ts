/**
 * AdminService.Status for the status and cluster commands, through the client.
 */
import { SessionClient, type NodeStatus } from '../client/index.js';

export type NodeStatusReply = NodeStatus;

/** Status of one node, or an Error saying why it could not be had within `timeoutMs`. */
export async function fetchStatus(address: string, timeoutMs = 1_000): Promise<NodeStatusReply> {
  const client = await SessionClient.connect({ endpoints: [address], connectTimeoutMs: timeoutMs, retriesMax: 0 });
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
