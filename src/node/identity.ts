/**
 * Which cluster a data directory belongs to and which node it is: `identity.json` beside the
 * LevelDB files, written once (fsync + rename) when a node first starts on an empty directory.
 * A node that has data takes its cluster id from here, and membership from its log; flags that
 * contradict either are refused rather than silently obeyed.
 */
import { mkdirSync, openSync, closeSync, fsyncSync, readFileSync, renameSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { NodeId } from '../raft/index.js';

export interface NodeIdentity {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  /** How the data began: bootstrapped with members, joined an existing cluster, or restored/recovered. */
  readonly origin: 'bootstrap' | 'join' | 'restore' | 'recover';
  /** The members a bootstrapped cluster started with (id → host:port). */
  readonly bootstrapMembers?: Readonly<Record<string, string>>;
  readonly createdAtMs: number;
}

export const IDENTITY_FILE = 'identity.json';

export function identityPath(dataDir: string): string {
  return path.join(dataDir, IDENTITY_FILE);
}

/** The identity of `dataDir`, or undefined if it has none (a new node). Throws on a damaged file. */
export function readIdentity(dataDir: string): NodeIdentity | undefined {
  const file = identityPath(dataDir);
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file} is not valid JSON (${(error as Error).message}); it says which cluster this data belongs to`);
  }
  const o = raw as Partial<NodeIdentity>;
  if (typeof o.clusterId !== 'string' || typeof o.nodeId !== 'number' || typeof o.origin !== 'string' || typeof o.createdAtMs !== 'number') {
    throw new Error(`${file} is malformed: expected clusterId, nodeId, origin and createdAtMs`);
  }
  return o as NodeIdentity;
}

/** Writes the identity durably (temp file, fsync, rename, fsync of the directory). */
export function writeIdentity(dataDir: string, identity: NodeIdentity): void {
  mkdirSync(dataDir, { recursive: true });
  const file = identityPath(dataDir);
  const temp = `${file}.tmp`;
  writeFileSync(temp, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o644 });
  const fd = openSync(temp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  const dirFd = openSync(dataDir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** Whether `dataDir` holds anything a node wrote (identity or LevelDB files). */
export function hasNodeData(dataDir: string): boolean {
  return existsSync(dataDir) && readdirSync(dataDir).length > 0;
}
