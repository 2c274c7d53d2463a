/**
 * `sessionraft restore FILE --key-file K --data-dir DIR --id N --listen HOST:PORT`: a new
 * one-node cluster from a backup, under a new cluster id (the old members cannot join it by
 * mistake). The whole file is verified before anything is written, and the data directory
 * appears only once complete (built beside it, then renamed).
 */
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BackupError, loadBackupSecret, openBackup, verifyBackup } from '../backup/index.js';
import { NODE_DEFAULTS, seedFromState, writeIdentity } from '../node/index.js';
import { SessionStateMachine } from '../session/index.js';
import type { LogIndex, NodeId, Term } from '../raft/index.js';
import { openLevelStorage } from '../storage/index.js';
import { UsageError, integerFlag } from './args.js';

export function restoreHelp(): string {
  return [
    'Usage: sessionraft restore FILE (--key-file K | --passphrase-env VAR) --data-dir DIR --id N --listen HOST:PORT [--cluster-id ID]',
    '',
    'Makes DIR the data of a new one-node cluster holding the backup FILE: sessions keep their ids,',
    'versions and expiry. The cluster gets a new id, so members of the old cluster cannot join it by',
    'mistake. FILE is verified whole (key, every chunk, the SHA-256) before anything is written.',
    'Then start it with `sessionraft node --id N --listen HOST:PORT --data-dir DIR`, and add nodes',
    'with `sessionraft node --id M --listen ... --join HOST:PORT --data-dir EMPTY`.',
    '',
    'Options:',
    '  --key-file K           the 32-byte key the backup was written with (64 hex characters or 32 raw bytes)',
    '  --passphrase-env VAR   or: the passphrase, in environment variable VAR',
    '  --data-dir DIR         must not exist or be empty',
    '  --id N                 the node id of the restored node (default 1)',
    '  --listen HOST:PORT     where it will serve (its member address; required)',
    '  --cluster-id ID        the new cluster id (default: <old id>-r<UTC time>)',
  ].join('\n');
}

export async function runRestore(args: readonly string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      'key-file': { type: 'string' },
      'passphrase-env': { type: 'string' },
      'data-dir': { type: 'string' },
      id: { type: 'string' },
      listen: { type: 'string' },
      'cluster-id': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('restore: expected exactly one backup FILE');
  const file = positionals[0]!;
  const dataDir = values['data-dir'];
  if (dataDir === undefined) throw new UsageError('--data-dir is required');
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) throw new UsageError(`--data-dir ${dataDir} is not empty: restore only into a new directory`);
  const id = (integerFlag('id', values.id, 1) ?? 1) as NodeId;
  const listen = values.listen;
  if (listen === undefined) throw new UsageError('--listen HOST:PORT is required (the restored member\'s address)');
  if (!/^[^\s,]+:\d{1,5}$/.test(listen)) throw new UsageError(`--listen: expected host:port, got '${listen}'`);
  const clusterIdFlag = values['cluster-id'];
  if (clusterIdFlag !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(clusterIdFlag)) {
    throw new UsageError(`--cluster-id must be 1-64 characters of [A-Za-z0-9._-], got '${clusterIdFlag}'`);
  }
  const secret = await loadBackupSecret({
    ...(values['key-file'] !== undefined ? { keyFile: values['key-file'] } : {}),
    ...(values['passphrase-env'] !== undefined ? { passphraseEnv: values['passphrase-env'] } : {}),
  }).catch((error: unknown) => {
    throw new UsageError((error as Error).message);
  });

  progress(`verifying ${file} ...`);
  const header = await verifyBackup(file, secret).catch(explain(file));
  const clusterId = clusterIdFlag ?? newClusterId(header.clusterId);
  if (clusterId === header.clusterId) throw new UsageError(`--cluster-id must differ from the backup's cluster id '${header.clusterId}'`);
  progress(`verified: ${header.sessionCount} sessions of cluster '${header.clusterId}' at index ${header.index}; writing ${dataDir} ...`);

  const building = `${path.resolve(dataDir)}.restoring`;
  rmSync(building, { recursive: true, force: true });
  try {
    const opened = await openBackup(file, secret).catch(explain(file));
    const pairs: [string, Uint8Array][] = [];
    for await (const pair of opened.pairs()) pairs.push(pair);
    // End to end: the state rebuilt from the pairs must be the one the source had at the index.
    const rebuilt = new SessionStateMachine({ defaultTtlMs: NODE_DEFAULTS.defaultTtlMs, dataBytesMax: NODE_DEFAULTS.dataBytesMax });
    await rebuilt.load(pairs);
    if (header.stateDigest !== undefined && rebuilt.digest() !== header.stateDigest) {
      throw new Error(`${file}: the state rebuilt from it has digest ${rebuilt.digest()}, the source had ${header.stateDigest} (nothing was written)`);
    }
    const storage = await openLevelStorage(building);
    try {
      await seedFromState(storage, { self: id, address: listen, index: header.index as LogIndex, term: header.term as Term, pairs });
    } finally {
      await storage.close();
    }
    writeIdentity(building, { clusterId, nodeId: id, origin: 'restore', createdAtMs: Date.now() });
    if (existsSync(dataDir)) rmSync(dataDir, { recursive: true }); // empty: checked above
    renameSync(building, dataDir);
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    throw error;
  }
  console.log(`restored ${header.sessionCount} sessions (index ${header.index}) into ${dataDir}: node ${id} of the new cluster '${clusterId}'. Start it with:`);
  console.log(`  sessionraft node --id ${id} --listen ${listen} --data-dir ${dataDir}`);
}

function newClusterId(old: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${old.slice(0, 64 - stamp.length - 2)}-r${stamp}`;
}

function explain(file: string): (error: unknown) => never {
  return (error: unknown) => {
    if (error instanceof BackupError) throw new Error(`${file}: ${error.message} (nothing was written)`, { cause: error });
    throw error;
  };
}

function progress(line: string): void {
  if (process.stderr.isTTY) process.stderr.write(`${line}\n`);
}
