/**
 * How a client command (session, admin, status, backup) reaches a cluster started with TLS or a
 * client token: one set of flags, their --help lines, and their checks, turned into the
 * SessionClient's `tls` and `token` connect options.
 *
 *   --tls-dir DIR           DIR/ca.crt, and DIR/client.crt + client.key if there (make certs)
 *   --ca F --cert F --key F  explicit PEM files; --cert/--key optional (server-only TLS)
 *   --client-token-file F   the bearer token of nodes started with --client-token-file
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ConnectOptions } from '../client/index.js';
import { checkClientToken } from '../server/access.js';
import { UsageError } from './args.js';

/** The flags, for node:util parseArgs (spread into a command's `options`). */
export const CLIENT_CONNECTION_FLAGS = {
  'tls-dir': { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'client-token-file': { type: 'string' },
} as const;

export type ClientConnectionFlag = keyof typeof CLIENT_CONNECTION_FLAGS;
export const CLIENT_CONNECTION_FLAG_NAMES = Object.keys(CLIENT_CONNECTION_FLAGS) as ClientConnectionFlag[];

/** Their --help lines. */
export const CLIENT_CONNECTION_HELP: readonly string[] = [
  '  --tls-dir DIR      TLS with the files of make certs: DIR/ca.crt, and DIR/client.crt + client.key if there',
  '  --ca F             TLS: the CA file the nodes\' certificates chain to (default with --cert: the system roots)',
  '  --cert F, --key F  TLS: a client certificate and its key (optional: the nodes require one only of peers)',
  '  --client-token-file F  the token of nodes started with --client-token-file (sent as authorization: Bearer)',
];

/** The connect options the flags stand for: `tls` and `token`, each only when given. */
export type ClientConnection = Pick<ConnectOptions, 'tls' | 'token'>;

function readFlagFile(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

function readTls(values: Partial<Record<ClientConnectionFlag, string | boolean | undefined>>): ClientConnection['tls'] {
  const text = (flag: ClientConnectionFlag): string | undefined => values[flag] as string | undefined;
  const dir = text('tls-dir');
  const explicit = (['ca', 'cert', 'key'] as const).filter((f) => text(f) !== undefined);
  if (dir !== undefined) {
    if (explicit.length > 0) throw new UsageError(`--tls-dir names the TLS files already: give it or --${explicit.join('/--')}, not both`);
    const ca = path.join(dir, 'ca.crt');
    if (!existsSync(ca)) throw new UsageError(`--tls-dir ${dir}: no ca.crt in it (make certs writes ca.crt, client.crt, client.key)`);
    const cert = path.join(dir, 'client.crt');
    const key = path.join(dir, 'client.key');
    if (existsSync(cert) !== existsSync(key)) {
      throw new UsageError(`--tls-dir ${dir}: ${existsSync(cert) ? 'client.crt without client.key' : 'client.key without client.crt'}`);
    }
    return existsSync(cert)
      ? { ca: readFlagFile('tls-dir', ca), cert: readFlagFile('tls-dir', cert), key: readFlagFile('tls-dir', key) }
      : { ca: readFlagFile('tls-dir', ca) };
  }
  if (explicit.length === 0) return undefined;
  const cert = text('cert');
  const key = text('key');
  if (cert !== undefined && key === undefined) throw new UsageError('--cert needs --key (the private key of the client certificate)');
  if (key !== undefined && cert === undefined) throw new UsageError('--key needs --cert (the client certificate of that key)');
  const ca = text('ca');
  return {
    ...(ca !== undefined ? { ca: readFlagFile('ca', ca) } : {}),
    ...(cert !== undefined && key !== undefined ? { cert: readFlagFile('cert', cert), key: readFlagFile('key', key) } : {}),
  };
}

function readToken(file: string): string {
  const text = readFlagFile('client-token-file', file).toString('utf8');
  if (text.trim() === '') throw new UsageError(`--client-token-file ${file}: the file is empty (expected the token the nodes were started with)`);
  try {
    return checkClientToken(text);
  } catch (error) {
    throw new UsageError(`--client-token-file ${file}: ${(error as Error).message}`);
  }
}

/**
 * Checks the flags and reads their files (a UsageError, exit 2, says what is wrong before
 * anything connects). No flag: plaintext without a token, as before.
 */
export function clientConnectionFromFlags(values: Partial<Record<ClientConnectionFlag, string | boolean | undefined>>): ClientConnection {
  const tls = readTls(values);
  const tokenFile = values['client-token-file'] as string | undefined;
  const token = tokenFile === undefined ? undefined : readToken(tokenFile);
  return { ...(tls !== undefined ? { tls } : {}), ...(token !== undefined ? { token } : {}) };
}
