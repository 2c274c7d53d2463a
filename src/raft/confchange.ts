/**
 * Membership changes, one server at a time (Raft dissertation §4.1). A configuration takes
 * effect as soon as its entry is in a node's log (committed or not); the core recomputes it
 * from the snapshot's ConfState and the conf entries that follow whenever the log changes.
 */
import { invariant } from './assert.js';
import type { ConfChange, ConfState, Entry, NodeId } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The bytes of a 'confChange' entry: UTF-8 JSON `{"type":..,"node":..}` (stable, readable). */
export function encodeConfChange(change: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify({ type: change.type, node: change.node }));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (cause) {
    throw new RangeError(`conf change entry data is not JSON: ${String(cause)}`, { cause });
  }
  const o = raw as { type?: unknown; node?: unknown };
  const types = ['addVoter', 'addLearner', 'removeNode'];
  if (typeof o !== 'object' || o === null || typeof o.type !== 'string' || !types.includes(o.type)) {
    throw new RangeError(`conf change entry has no valid type: ${JSON.stringify(raw)}`);
  }
  if (typeof o.node !== 'number' || !Number.isSafeInteger(o.node) || o.node < 1) {
    throw new RangeError(`conf change entry has no valid node id: ${JSON.stringify(raw)}`);
  }
  return { type: o.type as ConfChange['type'], node: o.node as NodeId };
}

const byId = (a: NodeId, b: NodeId): number => a - b;

/** The configuration after `change`; ids sorted ascending so equal states compare equal. */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const voters = conf.voters.filter((id) => id !== change.node);
  const learners = conf.learners.filter((id) => id !== change.node);
  if (change.type === 'addVoter') voters.push(change.node);
  if (change.type === 'addLearner') learners.push(change.node);
  return Object.freeze({ voters: voters.sort(byId), learners: learners.sort(byId) });
}

/** Why `change` may not be proposed against `conf`, or undefined if it may. */
export function confChangeProblem(conf: ConfState, change: ConfChange): string | undefined {
  if (!Number.isSafeInteger(change.node) || change.node < 1) {
    return `conf change node id must be a positive integer, got ${change.node}`;
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
  return Object.freeze({ voters, learners });
}

export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}
