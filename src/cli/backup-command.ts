/**
 * `sessionraft backup`: take an encrypted backup from a running cluster (AdminService/Backup
 * through the SDK, written by src/backup), check one (`verify`), make a key (`keygen`).
 * Exit codes: 0 success, 2 a usage error (a bad flag, key file or passphrase variable), 10 + the
 * gRPC status of a failed call, 1 anything else (a damaged backup, a file that cannot be written).
 */
import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  BackupError,
  loadBackupSecret,
  verifyBackupReport,
  writeBackup,
  writeNewKeyFile,
  type BackupHeader,
  type BackupSecret,
  type VerifiedBackup,
} from '../backup/index.js';
import { SessionClient, SessionRaftError, type BackupMessage, type BackupStart } from '../client/index.js';
import { SESSION_KEY_PREFIX } from '../session/index.js';
import { UsageError, endpointsFlag, integerFlag } from './args.js';
import { CLIENT_CONNECTION_FLAGS, CLIENT_CONNECTION_FLAG_NAMES, CLIENT_CONNECTION_HELP, clientConnectionFromFlags } from './client-connection.js';

const ACTIONS = ['take', 'verify', 'keygen'] as const;
type Action = (typeof ACTIONS)[number];

const SECRET_OPTIONS = [
  '  --key-file K           the 32-byte key: 64 hex characters (what keygen writes) or 32 raw bytes',
  '  --passphrase-env VAR   or: a passphrase (12+ characters) in environment variable VAR, stretched with scrypt',
];

const HELP: Record<Action, string> = {
  take: [
    'Usage: sessionraft backup --out FILE (--key-file K | --passphrase-env VAR) [options]',
    '',
    'Takes a consistent point-in-time copy of the cluster\'s sessions from one node, without stopping',
    'writes: it holds every write acknowledged before it started. Written compressed and encrypted',
    '(AES-256-GCM) to FILE.tmp, fsynced, then renamed to FILE. A progress line on a terminal.',
    '',
    'Options:',
    '  --out FILE             the backup file to write (refused if it exists, unless --force)',
    ...SECRET_OPTIONS,
    '  --endpoints E          host:port,... tried in turn (default $SESSIONRAFT_ENDPOINTS, else 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003)',
    '  --timeout-ms T         deadline to connect and for a node to start the copy (default 10000; the copy itself takes as long as it takes)',
    '  --force                overwrite FILE if it exists',
    '  --json                 print the result as one JSON object',
    ...CLIENT_CONNECTION_HELP,
    '',
    'Other actions:',
    '  sessionraft backup verify FILE (--key-file K | --passphrase-env VAR)   check a backup without restoring it',
    '  sessionraft backup keygen --out K                                      make a new key file (mode 0600)',
  ].join('\n'),
  verify: [
    'Usage: sessionraft backup verify FILE (--key-file K | --passphrase-env VAR) [--json]',
    '',
    'Reads the whole backup and checks it: the key, every chunk\'s authentication, their order and',
    'count, and the file\'s SHA-256. Prints the header and "ok"; exits 1 with the reason otherwise',
    '(wrong key or passphrase, truncated, damaged or tampered, not a backup, a newer format).',
    '',
    'Options:',
    ...SECRET_OPTIONS,
    '  --json                 print {"ok": true, header, pairs, chunks, bytes, sha256}',
  ].join('\n'),
  keygen: [
    'Usage: sessionraft backup keygen --out K',
    '',
    'Writes a new random 32-byte key to K as 64 hex characters, mode 0600. Refuses to overwrite a',
    'file. Keep the key apart from the backups: without it they cannot be read.',
  ].join('\n'),
};

const ALLOWED: Record<Action, readonly string[]> = {
  take: ['out', 'key-file', 'passphrase-env', 'endpoints', ...CLIENT_CONNECTION_FLAG_NAMES, 'timeout-ms', 'force', 'json'],
  verify: ['key-file', 'passphrase-env', 'json'],
  keygen: ['out'],
};

export function backupHelp(args: readonly string[] = []): string {
  if (args.includes('verify')) return HELP.verify;
  if (args.includes('keygen')) return HELP.keygen;
  return HELP.take;
}

interface Parsed {
  readonly action: Action;
  readonly file: string | undefined;
  readonly values: Record<string, string | boolean | undefined>;
}

function parseBackup(args: readonly string[]): Parsed {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: 'string' },
      'key-file': { type: 'string' },
      'passphrase-env': { type: 'string' },
      endpoints: { type: 'string' },
      ...CLIENT_CONNECTION_FLAGS,
      'timeout-ms': { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const [first, ...rest] = positionals;
  const action: Action = first === 'verify' || first === 'keygen' ? first : 'take';
  const expected = action === 'verify' ? 1 : 0;
  const given = action === 'take' ? positionals : rest;
  if (given.length !== expected) {
    const usage = HELP[action].split('\n')[0]!.replace('Usage: ', '');
    throw new UsageError(`backup: expected ${usage}, got ${given.length === 0 ? 'no' : `'${given.join(' ')}' as`} argument(s)`);
  }
  for (const flag of Object.keys(values)) {
    if (!ALLOWED[action].includes(flag)) throw new UsageError(`backup${action === 'take' ? '' : ` ${action}`}: --${flag} does not apply`);
  }
  return { action, file: action === 'verify' ? rest[0] : undefined, values };
}

async function secretOf(values: Parsed['values']): Promise<BackupSecret> {
  const keyFile = values['key-file'] as string | undefined;
  const passphraseEnv = values['passphrase-env'] as string | undefined;
  try {
    const secret = await loadBackupSecret({ ...(keyFile !== undefined ? { keyFile } : {}), ...(passphraseEnv !== undefined ? { passphraseEnv } : {}) });
    if (keyFile !== undefined && (statSync(keyFile).mode & 0o077) !== 0) {
      console.error(`sessionraft: warning: key file ${keyFile} can be read by other users (chmod 600 ${keyFile})`);
    }
    return secret;
  } catch (error) {
    // A key file that is missing or of the wrong size is a bad argument like any other.
    if (error instanceof RangeError || error instanceof BackupError) throw new UsageError(error.message);
    throw error;
  }
}

export async function runBackup(args: readonly string[]): Promise<void> {
  const parsed = parseBackup(args);
  try {
    if (parsed.action === 'keygen') await keygen(parsed.values);
    else if (parsed.action === 'verify') await verify(parsed.file!, parsed.values);
    else await take(parsed.values);
  } catch (error) {
    if (error instanceof UsageError || error instanceof SessionRaftError) {
      if (parsed.values.json === true) Object.defineProperty(error, 'printAsJson', { value: true });
      throw error;
    }
    // A damaged file, a write that failed: the message says it all.
    const message = (error as Error).message;
    process.exitCode = 1;
    if (parsed.values.json === true) {
      console.error(JSON.stringify({ error: { code: error instanceof BackupError ? error.code : 'UNKNOWN', message, exitCode: 1 } }));
    } else {
      console.error(`sessionraft: backup${parsed.action === 'take' ? '' : ` ${parsed.action}`}: ${message}`);
    }
  }
}

async function keygen(values: Parsed['values']): Promise<void> {
  const out = values.out as string | undefined;
  if (out === undefined) throw new UsageError('backup keygen: --out K is required');
  await writeNewKeyFile(out);
  console.log(`wrote a new 32-byte key to ${out} (mode 0600); keep it apart from the backups: without it they cannot be read`);
}

function headerLines(report: VerifiedBackup, file: string): string {
  const h = report.header;
  const members = h.members.map((m) => `${m.id}=${m.address}${m.voter ? '' : ' (learner)'}`).join(', ');
  return [
    `file        ${file} (${report.bytes.toLocaleString('en-US')} bytes, sha256 ${report.sha256})`,
    `format      ${h.formatVersion}`,
    `cluster     ${h.clusterId}`,
    `index       ${h.index} (term ${h.term})`,
    `members     ${members || '-'}`,
    `created     ${new Date(h.createdAtMs).toISOString()}`,
    `sessions    ${h.sessionCount.toLocaleString('en-US')}`,
    `pairs       ${report.pairs.toLocaleString('en-US')} in ${report.chunks} chunks`,
    ...(h.stateDigest !== undefined ? [`digest      ${h.stateDigest}`] : []),
  ].join('\n');
}

async function verify(file: string, values: Parsed['values']): Promise<void> {
  const secret = await secretOf(values);
  const report = await verifyBackupReport(file, secret);
  console.log(values.json ? JSON.stringify({ ok: true, ...report }) : `${headerLines(report, file)}\nok`);
}

/** Connects, then asks each endpoint in turn for a copy until one starts it. */
async function openStream(
  client: SessionClient,
  endpoints: readonly string[],
  timeoutMs: number,
): Promise<{ address: string; start: BackupStart; rest: AsyncIterator<BackupMessage> }> {
  const order = [client.currentEndpoint, ...endpoints.filter((e) => e !== client.currentEndpoint)];
  let lastError: unknown;
  for (const address of order) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const iterator = client.backup(address, { signal: controller.signal })[Symbol.asyncIterator]();
    try {
      const first = await iterator.next();
      if (first.done || first.value.type !== 'start') throw new Error(`${address} did not start the backup with its header`);
      clearTimeout(timer);
      return { address, start: first.value.start, rest: iterator };
    } catch (error) {
      clearTimeout(timer);
      await iterator.return?.(undefined);
      lastError = controller.signal.aborted ? new Error(`${address} did not start a copy within ${timeoutMs} ms`) : error;
      console.error(`sessionraft: backup: ${address}: ${(lastError as Error).message}${order.indexOf(address) < order.length - 1 ? '; trying the next endpoint' : ''}`);
    }
  }
  throw lastError;
}

/** The pairs of the stream; throws unless it ends with the count the node sent and the sessions its header claims. */
async function* pairsOf(
  rest: AsyncIterator<BackupMessage>,
  start: BackupStart,
  counted: { sessions: number; pairs: number },
): AsyncIterable<readonly [string, Uint8Array]> {
  for (let next = await rest.next(); !next.done; next = await rest.next()) {
    const message = next.value;
    if (message.type === 'end') {
      if (message.pairs !== counted.pairs) throw new Error(`the node sent ${message.pairs} pairs, ${counted.pairs} arrived`);
      if (counted.sessions !== start.sessionCount) throw new Error(`the copy holds ${counted.sessions} sessions, its header says ${start.sessionCount}`);
      return;
    }
    if (message.type !== 'pairs') throw new Error(`unexpected ${message.type} message in the middle of the copy`);
    for (const pair of message.pairs) {
      counted.pairs++;
      if (pair[0].startsWith(SESSION_KEY_PREFIX)) counted.sessions++;
      yield pair;
    }
  }
  throw new Error('the stream ended without its end message');
}

/** A progress line on stderr when it is a terminal: rewritten at most every 100 ms. */
function progressLine(total: number): { update(sessions: number, bytes: number): void; done(): void } {
  if (!process.stderr.isTTY) return { update: () => undefined, done: () => undefined };
  let lastMs = 0;
  const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
  return {
    update(sessions, bytes) {
      const now = Date.now();
      if (now - lastMs < 100 && sessions < total) return;
      lastMs = now;
      const percent = total === 0 ? 100 : Math.floor((100 * sessions) / total);
      process.stderr.write(`\r\x1b[2Kbackup: ${sessions.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} sessions (${percent} %), ${mib(bytes)} MiB written`);
    },
    done() {
      process.stderr.write('\r\x1b[2K');
    },
  };
}

async function take(values: Parsed['values']): Promise<void> {
  const out = values.out as string | undefined;
  if (out === undefined) throw new UsageError('backup: --out FILE is required');
  if (existsSync(out) && values.force !== true) throw new UsageError(`backup: --out ${out} exists: choose another name, or --force to replace it`);
  const endpoints = endpointsFlag(values.endpoints as string | undefined);
  const timeoutMs = integerFlag('timeout-ms', values['timeout-ms'] as string | undefined, 1, 3_600_000) ?? 10_000;
  const connection = clientConnectionFromFlags(values);
  const secret = await secretOf(values);
  const client = await SessionClient.connect({ ...connection, endpoints, connectTimeoutMs: Math.min(timeoutMs, 5_000) });
  try {
    const { address, start, rest } = await openStream(client, endpoints, timeoutMs);
    const header: Omit<BackupHeader, 'formatVersion'> = {
      clusterId: start.clusterId,
      index: start.index,
      term: start.term,
      members: start.members,
      createdAtMs: Date.now(),
      sessionCount: start.sessionCount,
      ...(/^[0-9a-f]{64}$/.test(start.stateDigest) ? { stateDigest: start.stateDigest } : {}),
    };
    const counted = { sessions: 0, pairs: 0 };
    const progress = progressLine(start.sessionCount);
    let written;
    try {
      written = await writeBackup(out, header, pairsOf(rest, start, counted), secret, ({ bytes }) => progress.update(counted.sessions, bytes));
    } finally {
      progress.done();
    }
    const result = { file: out, node: { id: start.nodeId, address }, header: { ...header, formatVersion: 1 }, ...written };
    console.log(
      values.json
        ? JSON.stringify(result)
        : [
            `backup of cluster ${start.clusterId} from node ${start.nodeId} (${address}) at index ${start.index} (term ${start.term})`,
            `${start.sessionCount.toLocaleString('en-US')} sessions, ${written.pairs.toLocaleString('en-US')} pairs`,
            `wrote ${out}: ${written.bytes.toLocaleString('en-US')} bytes, sha256 ${written.sha256}`,
          ].join('\n'),
    );
  } finally {
    client.close();
  }
}
