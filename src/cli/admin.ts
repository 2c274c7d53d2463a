/**
 * AdminService.Status over gRPC, for the status and cluster commands.
 */
import * as grpc from '@grpc/grpc-js';
import { findProtoDir, loadProtos } from '../server/index.js';

export interface MemberStatus {
  id: number;
  address: string;
  voter: boolean;
  matchIndex: number;
}

export interface NodeStatusReply {
  nodeId: number;
  clusterId: string;
  role: string;
  term: number;
  leaderId: number;
  leaderAddress: string;
  commitIndex: number;
  appliedIndex: number;
  members: MemberStatus[];
  stateDigest: string;
}

type AdminClient = grpc.Client & {
  Status(
    request: object,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, reply: NodeStatusReply) => void,
  ): void;
};

let adminConstructor: (new (address: string, credentials: grpc.ChannelCredentials) => AdminClient) | undefined;

function adminClient(address: string): AdminClient {
  if (!adminConstructor) {
    const definition = grpc.loadPackageDefinition(loadProtos(['session.proto'], findProtoDir()));
    const v1 = (definition.sessionraft as grpc.GrpcObject).v1 as grpc.GrpcObject;
    adminConstructor = v1.AdminService as unknown as typeof adminConstructor;
  }
  return new adminConstructor!(address, grpc.credentials.createInsecure());
}

/** Status of one node, or an Error saying why it could not be had within `timeoutMs`. */
export async function fetchStatus(address: string, timeoutMs = 1_000): Promise<NodeStatusReply> {
  const client = adminClient(address);
  try {
    return await new Promise<NodeStatusReply>((resolve, reject) =>
      client.Status({}, { deadline: Date.now() + timeoutMs }, (error, reply) => (error ? reject(error) : resolve(reply))),
    );
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
