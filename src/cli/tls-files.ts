/**
 * The node's TLS files (--tls-cert, --tls-key, --tls-ca): read, checked, and read again while
 * the node runs. A renewed certificate (or a CA bundle during a rotation) is taken on SIGHUP and,
 * with --tls-reload-ms, when the files' contents changed; new connections use it, established
 * ones keep theirs. Files that fail the checks are refused with an error line, and the node keeps
 * what it has.
 */
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { nodeCommonName, type NodeTls, type TlsFiles } from '../transport/index.js';

export interface TlsPaths {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** Reads the three files; an error names the flag and the file. */
export function readTlsFiles(paths: TlsPaths): TlsFiles {
  const read = (flag: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`--${flag} ${file}: ${(error as Error).message}`);
    }
  };
  return { cert: read('tls-cert', paths.cert), key: read('tls-key', paths.key), ca: read('tls-ca', paths.ca) };
}

/** Every certificate of a PEM file (a CA file may be a bundle: old and new CA during a rotation). */
function certificates(pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

/**
 * A node certificate must name its node (peers check the CN), be signed by one of the CA file's
 * certificates, and match its key.
 */
export function checkNodeCertificate(tls: TlsFiles, id: number): X509Certificate {
  let cert: X509Certificate;
  let cas: X509Certificate[];
  try {
    cert = new X509Certificate(tls.cert);
    cas = certificates(tls.ca);
  } catch (error) {
    throw new Error(`--tls-cert/--tls-ca: not a PEM certificate (${(error as Error).message})`);
  }
  if (cas.length === 0) throw new Error('--tls-ca: no PEM certificate in it');
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  if (cn !== nodeCommonName(id)) {
    throw new Error(`--tls-cert: its subject CN is '${cn ?? ''}', but peers accept node ${id} only as '${nodeCommonName(id)}'`);
  }
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) throw new Error('--tls-cert is not signed by --tls-ca');
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(tls.key));
  } catch (error) {
    throw new Error(`--tls-key: not a PEM private key (${(error as Error).message})`);
  }
  if (!matches) throw new Error('--tls-key is not the key of --tls-cert');
  return cert;
}

export interface TlsReloadOptions {
  readonly paths: TlsPaths;
  readonly tls: NodeTls;
  readonly nodeId: number;
  /** Also look at the files this often; 0: only on SIGHUP. */
  readonly intervalMs: number;
  readonly logger: Logger;
}

type ReloadOutcome = 'reloaded' | 'unchanged' | 'refused';

/**
 * Reads the files again and installs them if they changed and pass the checks. Files refused once
 * are not checked (nor logged) again until their contents change.
 */
function reloadTls(options: TlsReloadOptions, reason: string, refused: { key?: string }): ReloadOutcome {
  const { tls, logger } = options;
  let files: TlsFiles;
  try {
    files = readTlsFiles(options.paths);
  } catch (error) {
    const why = (error as Error).message;
    return refuse(options, reason, refused, why, `unreadable: ${why}`);
  }
  const current = tls.current;
  if (files.cert.equals(current.cert) && files.key.equals(current.key) && files.ca.equals(current.ca)) return 'unchanged';
  const digest = createHash('sha256').update(files.cert).update(files.key).update(files.ca).digest('hex');
  if (digest === refused.key) return 'refused';
  let cert: X509Certificate;
  try {
    cert = checkNodeCertificate(files, options.nodeId);
  } catch (error) {
    return refuse(options, reason, refused, (error as Error).message, digest);
  }
  refused.key = undefined;
  tls.update(files);
  logger.info({ reason, serialNumber: cert.serialNumber, validTo: cert.validTo, issuer: cert.issuer }, 'TLS certificate reloaded');
  return 'reloaded';
}

/** Logs a refusal once per `key` (the files' digest, or the read error): a poll does not repeat it. */
function refuse(options: TlsReloadOptions, reason: string, refused: { key?: string }, why: string, key: string): ReloadOutcome {
  if (key !== refused.key) options.logger.error({ reason, why }, 'TLS files refused: keeping the current certificate');
  refused.key = key;
  return 'refused';
}

/** Reloads on SIGHUP and every intervalMs; returns a function that stops both. */
export function watchTlsFiles(options: TlsReloadOptions): () => void {
  const refused: { key?: string } = {};
  const onSignal = (): void => void reloadTls(options, 'SIGHUP', refused);
  process.on('SIGHUP', onSignal);
  const timer = options.intervalMs > 0 ? setInterval(() => reloadTls(options, 'files changed', refused), options.intervalMs) : undefined;
  timer?.unref();
  return () => {
    process.off('SIGHUP', onSignal);
    if (timer !== undefined) clearInterval(timer);
  };
}
