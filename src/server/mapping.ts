/** Domain → wire, in one place: Session, durability, node status. */
import type { Session } from '../session/index.js';
import type { Durability, NodeStatus } from './backend.js';
import type { WireDurability, WireSession, WireStatusResponse } from './wire.js';

/** `dataJson`: the data as JSON when it is already at hand (a watch event's). */
export function sessionToWire(session: Session, dataJson = JSON.stringify(session.data)): WireSession {
  return {
    sessionId: session.sessionId,
    clientId: session.clientId,
    transport: session.transport,
    createdAtMs: session.createdAtMs,
    updatedAtMs: session.updatedAtMs,
    lastActivityMs: session.lastActivityMs,
    dataJson,
    ttlMs: session.ttlMs,
    maxLifetimeMs: session.maxLifetimeMs,
    version: session.version,
    expiresAtMs: session.expiresAtMs,
  };
}

/** What a wire session costs in a response, roughly: its data plus the fixed fields. */
export function wireSessionBytes(session: WireSession): number {
  const FIXED_FIELDS_BYTES = 160;
  return FIXED_FIELDS_BYTES + session.dataJson.length + session.clientId.length + session.transport.length;
}

export function durabilityToWire(durability: Durability): WireDurability {
  return durability === 'sync' ? 'DURABILITY_SYNC' : 'DURABILITY_ASYNC';
}

export function statusToWire(status: NodeStatus): WireStatusResponse {
  const raft = status.raft;
  const leader = status.members.find((member) => member.id === raft.leader);
  return {
    nodeId: raft.id,
    clusterId: status.clusterId,
    role: raft.role,
    term: raft.term,
    leaderId: raft.leader,
    leaderAddress: leader?.address ?? '',
    commitIndex: raft.commit,
    appliedIndex: status.appliedIndex,
    members: status.members.map((member) => ({
      id: member.id,
      address: member.address,
      voter: member.voter,
      matchIndex: member.matchIndex,
    })),
    stateDigest: status.stateDigest,
    removedIds: [...(raft.confState.removed ?? [])],
  };
}
