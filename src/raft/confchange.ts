/**
 * Membership changes, one server at a time (Raft dissertation §4.1). A configuration takes
 * effect as soon as its entry is in a node's log (committed or not); the core recomputes it
 * from the snapshot's ConfState and the conf entries that follow whenever the log changes.
 */
import { invariant } from './assert.js';
import type { ConfChange, ConfState, Entry, NodeId } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Longest member address a conf change may carry (host:port). */
export const MEMBER_ADDRESS_BYTES_MAX = 256;

/** The bytes of a 'confChange' entry: UTF-8 JSON `{"type":..,"node":..[,"address":..]}` (stable, readable). */
export function encodeConfChange(change: ConfChange): Uint8Array {
  const address = 'address' in change && change.address !== undefined ? { address: change.address } : {};
  return encoder.encode(JSON.stringify({ type: change.type, node: change.node, ...address }));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (cause) {
    throw new RangeError(`conf change entry data is not JSON: ${String(cause)}`, { cause });
  }
  const o = raw as { type?: unknown; node?: unknown; address?: unknown };
  const types = ['addVoter', 'addLearner', 'removeNode', 'setAddress'];
  if (typeof o !== 'object' || o === null || typeof o.type !== 'string' || !types.includes(o.type)) {
    throw new RangeError(`conf change entry has no valid type: ${JSON.stringify(raw)}`);
  }
  if (typeof o.node !== 'number' || !Number.isSafeInteger(o.node) || o.node < 1) {
    throw new RangeError(`conf change entry has no valid node id: ${JSON.stringify(raw)}`);
  }
  const node = o.node as NodeId;
  if (o.type === 'removeNode') return { type: 'removeNode', node };
  if (o.address === undefined && o.type !== 'setAddress') return { type: o.type as 'addVoter' | 'addLearner', node };
  if (addressProblem(o.address) !== undefined) {
    throw new RangeError(`conf change entry has no valid address: ${JSON.stringify(raw)}`);
  }
  return { type: o.type as 'addVoter' | 'addLearner' | 'setAddress', node, address: o.address as string };
}

function addressProblem(address: unknown): string | undefined {
  if (typeof address !== 'string' || address.length === 0 || address.length > MEMBER_ADDRESS_BYTES_MAX) {
    return `a member address must be 1-${MEMBER_ADDRESS_BYTES_MAX} characters, got ${JSON.stringify(address)}`;
  }
  return undefined;
}

const byId = (a: NodeId, b: NodeId): number => a - b;

/** The configuration after `change`; ids sorted ascending so equal states compare equal. */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const addresses: Record<number, string> = { ...conf.addresses };
  if (change.type === 'removeNode') delete addresses[change.node];
  else if (change.address !== undefined) addresses[change.node] = change.address;
  if (change.type === 'setAddress') return withAddresses(conf.voters, conf.learners, addresses, conf.removed);
  const removed = change.type === 'removeNode' ? [...(conf.removed ?? []), change.node] : conf.removed;
  const voters = conf.voters.filter((id) => id !== change.node);
  const learners = conf.learners.filter((id) => id !== change.node);
  if (change.type === 'addVoter') voters.push(change.node);
  if (change.type === 'addLearner') learners.push(change.node);
  return withAddresses(voters.sort(byId), learners.sort(byId), addresses, removed);
}

/**
 * A frozen ConfState; `addresses` and `removed` only when not empty (so bare states compare
 * equal to those of tests and older data).
 */
function withAddresses(
  voters: readonly NodeId[],
  learners: readonly NodeId[],
  addresses: Record<number, string>,
  removed: readonly NodeId[] | undefined,
): ConfState {
  const members = new Set([...voters, ...learners]);
  const kept = Object.entries(addresses)
    .filter(([id]) => members.has(Number(id) as NodeId))
    .sort(([a], [b]) => Number(a) - Number(b));
  const gone = [...new Set(removed ?? [])].filter((id) => !members.has(id)).sort(byId);
  return Object.freeze({
    voters,
    learners,
    ...(kept.length > 0 ? { addresses: Object.freeze(Object.fromEntries(kept)) } : {}),
    ...(gone.length > 0 ? { removed: Object.freeze(gone) } : {}),
  });
}

/** Why `change` may not be proposed against `conf`, or undefined if it may. */
export function confChangeProblem(conf: ConfState, change: ConfChange): string | undefined {
  if (!Number.isSafeInteger(change.node) || change.node < 1) {
    return `conf change node id must be a positive integer, got ${change.node}`;
  }
  if ('address' in change && change.address !== undefined) {
    const problem = addressProblem(change.address);
    if (problem !== undefined) return problem;
  }
  if ((change.type === 'addVoter' || change.type === 'addLearner') && conf.removed?.includes(change.node)) {
    return `conf change ${change.type} ${change.node}: node ${change.node} was removed and ids are never reused`;
  }
  if (change.type === 'setAddress' && !isMember(conf, change.node)) {
    return `conf change setAddress: node ${change.node} is not a member`;
  }
  const next = applyConfChange(conf, change);
  if (next.voters.length === 0) {
    return `conf change ${change.type} ${change.node} would leave the cluster without voters`;
  }
  return undefined;
}

/** The configuration at the end of `entries`, starting from `base`. */
export function replayConfChanges(base: ConfState, entries: Iterable<Entry>): ConfState {
  let conf = base;
  for (const entry of entries) {
    if (entry.type === 'confChange') conf = applyConfChange(conf, decodeConfChange(entry.data));
  }
  return conf;
}

export function normalizeConfState(conf: ConfState): ConfState {
  const voters = [...new Set(conf.voters)].sort(byId);
  const learners = [...new Set(conf.learners)].filter((id) => !voters.includes(id)).sort(byId);
  invariant(
    voters.length === conf.voters.length && learners.length === conf.learners.length,
    () => `conf state has duplicate or overlapping members: voters [${conf.voters}] learners [${conf.learners}]`,
  );
  return withAddresses(voters, learners, { ...conf.addresses }, conf.removed);
}

export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}
