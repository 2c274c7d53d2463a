/**
 * `sessionraft recover --data-dir DIR --force-new-cluster`: the last resort when a majority of
 * the machines is gone for good. Rewrites a STOPPED survivor's membership to itself alone
 * (src/node/recovery.ts); started again, it is a one-node cluster that new nodes --join.
 */
import { parseArgs } from 'node:util';
import { forceNewCluster, readIdentity } from '../node/index.js';
import { openLevelStorage } from '../storage/index.js';
import { UsageError } from './args.js';

export function recoverHelp(): string {
  return [
    'Usage: sessionraft recover --data-dir DIR --force-new-cluster [--listen HOST:PORT]',
    '',
    'Quorum-loss recovery on a STOPPED node: rewrites its membership to this node alone, as',
    "etcd's --force-new-cluster does. Every entry it had committed stays (and so every SYNC",
    'write it had applied); entries it held but had not seen committed are dropped. The other',
    'members are removed for good: their ids are never members again. Then start the node with',
    '`sessionraft node --id N --listen HOST:PORT --data-dir DIR` and let new nodes --join it.',
    '',
    'Use it only when the other members cannot come back: were they to return, two clusters',
    'would each believe it holds the sessions.',
    '',
    'Options:',
    '  --data-dir DIR        the survivor\'s data directory (required; the node must be stopped)',
    '  --force-new-cluster   required: says you mean it',
    '  --listen HOST:PORT    the address the node will serve on (default: its address in the data)',
  ].join('\n');
}

export async function runRecover(args: readonly string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: { 'data-dir': { type: 'string' }, 'force-new-cluster': { type: 'boolean' }, listen: { type: 'string' } },
  });
  if (positionals.length > 0) throw new UsageError(`recover: unexpected argument '${positionals[0]}'`);
  const dataDir = values['data-dir'];
  if (dataDir === undefined) throw new UsageError('--data-dir is required');
  if (values['force-new-cluster'] !== true) throw new UsageError('recover rewrites the membership: pass --force-new-cluster to say you mean it');
  const listen = values.listen;
  if (listen !== undefined && !/^[^\s,]+:\d{1,5}$/.test(listen)) throw new UsageError(`--listen: expected host:port, got '${listen}'`);
  const identity = readIdentity(dataDir);
  if (identity === undefined) throw new UsageError(`--data-dir ${dataDir} holds no node data (no identity.json)`);
  let storage;
  try {
    storage = await openLevelStorage(dataDir);
  } catch (error) {
    throw new Error(`cannot open the storage in ${dataDir} (is the node still running? stop it first): ${(error as Error).message}`, { cause: error });
  }
  try {
    const result = await forceNewCluster(storage, identity.nodeId, listen).catch((error: unknown) => {
      const noAddress = error instanceof Error && error.message.startsWith('the data names no address');
      throw noAddress ? new UsageError(`${error.message}: pass --listen HOST:PORT`) : error;
    });
    const address = result.address;
    const removed = [...result.before.voters, ...result.before.learners].filter((id) => id !== identity.nodeId);
    console.error(
      [
        '',
        '  WARNING: forced a new cluster from this node alone.',
        `  Members before: ${[...result.before.voters].join(', ') || '-'} (voters)${result.before.learners.length ? `, ${result.before.learners.join(', ')} (learners)` : ''}.`,
        `  Removed for good: ${removed.join(', ') || 'none'}. Never start those nodes again with their old data.`,
        `  Dropped ${result.droppedEntries} uncommitted entr${result.droppedEntries === 1 ? 'y' : 'ies'}; kept everything up to index ${result.commit}.`,
        '',
      ].join('\n'),
    );
    console.log(`node ${identity.nodeId} of cluster '${identity.clusterId}' is now its only member at ${address}. Start it with:`);
    console.log(`  sessionraft node --id ${identity.nodeId} --listen ${address} --data-dir ${dataDir}`);
  } finally {
    await storage.close();
  }
}
