/**
 * The secret behind a backup: a 32-byte key from a file, or a passphrase from an environment
 * variable. Each file gets its own AES-256-GCM key: HKDF-SHA256(master, the file's random salt),
 * where master is the key itself or scrypt(passphrase, salt).
 */
import { hkdf, randomBytes, scrypt } from 'node:crypto';
import { open } from 'node:fs/promises';
import { BackupError } from './errors.js';
import { SALT_BYTES, scryptMemoryBytes, type KdfParams } from './format.js';

export type BackupSecret = { readonly key: Uint8Array } | { readonly passphrase: string };

export const BACKUP_KEY_BYTES = 32;
/** The shortest passphrase accepted (scrypt slows guessing; it cannot make "1234" safe). */
export const PASSPHRASE_CHARS_MIN = 12;
/** Above this a key file is certainly not a key: it is not read whole. */
const KEY_FILE_BYTES_MAX = 1024;

/**
 * scrypt cost of new passphrase backups: N = 2^17, r = 8, p = 1 (128 MiB, about 1 s
 * here; OWASP's recommendation). Stored in each file's header, so it can rise later.
 */
export const SCRYPT_DEFAULTS = Object.freeze({ name: 'scrypt', cost: 2 ** 17, blockSize: 8, parallelization: 1 } as const);

const HKDF_INFO = 'sessionraft backup v1: aes-256-gcm file key';

/**
 * A key file's key: exactly 32 raw bytes, or 64 hexadecimal characters (what `backup keygen`
 * writes) optionally followed by a newline. Anything else is refused with a RangeError.
 */
export function parseKeyFile(bytes: Uint8Array, name: string): Uint8Array {
  if (bytes.length === BACKUP_KEY_BYTES) return Uint8Array.from(bytes);
  const text = Buffer.from(bytes).toString('latin1').replace(/\r?\n$/, '');
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Uint8Array.from(Buffer.from(text, 'hex'));
  throw new RangeError(
    `key file ${name}: expected ${BACKUP_KEY_BYTES} raw bytes or 64 hexadecimal characters (sessionraft backup keygen makes one), got ${bytes.length} bytes`,
  );
}

/** Checks a passphrase; returns it NFC-normalized (the same text typed on another system gives the same key). */
export function checkPassphrase(passphrase: string, name: string): string {
  const normalized = passphrase.normalize('NFC');
  if ([...normalized].length < PASSPHRASE_CHARS_MIN) {
    throw new RangeError(`${name}: the passphrase must have at least ${PASSPHRASE_CHARS_MIN} characters`);
  }
  return normalized;
}

/** The secret from exactly one of a key file or an environment variable holding a passphrase. */
export async function loadBackupSecret(opts: { keyFile?: string; passphraseEnv?: string }, env: NodeJS.ProcessEnv = process.env): Promise<BackupSecret> {
  const { keyFile, passphraseEnv } = opts;
  if ((keyFile === undefined) === (passphraseEnv === undefined)) {
    throw new RangeError('give exactly one of --key-file FILE or --passphrase-env VAR');
  }
  if (passphraseEnv !== undefined) {
    const value = env[passphraseEnv];
    if (value === undefined || value === '') throw new RangeError(`--passphrase-env: the environment variable ${passphraseEnv} is not set or empty`);
    return { passphrase: checkPassphrase(value, `environment variable ${passphraseEnv}`) };
  }
  let handle;
  try {
    handle = await open(keyFile!, 'r');
    const { size } = await handle.stat();
    if (size > KEY_FILE_BYTES_MAX) throw new RangeError(`key file ${keyFile}: expected ${BACKUP_KEY_BYTES} raw bytes or 64 hexadecimal characters, got ${size} bytes`);
    return { key: parseKeyFile(await handle.readFile(), keyFile!) };
  } catch (error) {
    if (error instanceof RangeError) throw error;
    throw new BackupError('io', `key file ${keyFile}: ${(error as Error).message}`, { cause: error });
  } finally {
    await handle?.close();
  }
}

/** Checks a secret given through the API (RangeError): a 32-byte key or an acceptable passphrase. */
export function checkSecret(secret: BackupSecret): BackupSecret {
  if ('key' in secret) {
    if (!(secret.key instanceof Uint8Array) || secret.key.length !== BACKUP_KEY_BYTES) {
      throw new RangeError(`a backup key must be ${BACKUP_KEY_BYTES} bytes, got ${secret.key instanceof Uint8Array ? secret.key.length : typeof secret.key}`);
    }
    return secret;
  }
  if (typeof secret.passphrase !== 'string') throw new RangeError('a backup secret needs a key or a passphrase');
  return { passphrase: checkPassphrase(secret.passphrase, 'passphrase') };
}

/** The kdf a new file made with `secret` records. */
export function kdfFor(secret: BackupSecret, scryptParams: KdfParams = SCRYPT_DEFAULTS): KdfParams {
  return 'key' in secret ? { name: 'keyFile' } : scryptParams;
}

/** The secret does not match the kind of secret the file was made with: the reason, else undefined. */
export function secretKindMismatch(secret: BackupSecret, kdf: KdfParams): string | undefined {
  if (kdf.name === 'scrypt' && 'key' in secret) return 'this backup was encrypted with a passphrase, not a key file: give --passphrase-env';
  if (kdf.name === 'keyFile' && !('key' in secret)) return 'this backup was encrypted with a key file, not a passphrase: give --key-file';
  return undefined;
}

function scryptAsync(passphrase: string, salt: Uint8Array, kdf: Extract<KdfParams, { name: 'scrypt' }>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const options = {
      N: kdf.cost,
      r: kdf.blockSize,
      p: kdf.parallelization,
      maxmem: 2 * scryptMemoryBytes(kdf.cost, kdf.blockSize),
    };
    scrypt(passphrase.normalize('NFC'), salt, BACKUP_KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** This file's AES-256-GCM key. */
export async function deriveFileKey(secret: BackupSecret, kdf: KdfParams, salt: Uint8Array): Promise<Buffer> {
  if (salt.length !== SALT_BYTES) throw new RangeError(`salt must be ${SALT_BYTES} bytes, got ${salt.length}`);
  const master = 'key' in secret ? secret.key : kdf.name === 'scrypt' ? await scryptAsync(secret.passphrase, salt, kdf) : undefined;
  if (master === undefined) throw new RangeError(secretKindMismatch(secret, kdf) ?? 'the secret does not match the file');
  return new Promise((resolve, reject) => {
    hkdf('sha256', master, salt, HKDF_INFO, BACKUP_KEY_BYTES, (error, key) => (error ? reject(error) : resolve(Buffer.from(key))));
  });
}

export function newSalt(): Buffer {
  return randomBytes(SALT_BYTES);
}

/**
 * Writes a new random key to `path` as 64 hex characters and a newline, mode 0600. Refuses to
 * overwrite anything (a lost key loses every backup made with it).
 */
export async function writeNewKeyFile(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
    await handle.writeFile(`${randomBytes(BACKUP_KEY_BYTES).toString('hex')}\n`);
    await handle.sync();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BackupError('io', `${path} already exists: refusing to overwrite a key (backups made with it would be lost)`, { cause: error });
    }
    throw new BackupError('io', `${path}: ${(error as Error).message}`, { cause: error });
  } finally {
    await handle?.close();
  }
}
