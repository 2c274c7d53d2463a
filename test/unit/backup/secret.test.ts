/** Backup secrets: key files (raw or hex), passphrases from the environment, keygen. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BackupError, loadBackupSecret, parseKeyFile, writeNewKeyFile } from '../../../src/backup/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-backup-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: Uint8Array | string): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('key files', () => {
  it('take 32 raw bytes, or 64 hex characters with or without a newline', async () => {
    const raw = randomBytes(32);
    expect(Buffer.from(((await loadBackupSecret({ keyFile: file('raw', raw) })) as { key: Uint8Array }).key).equals(raw)).toBe(true);
    const hex = raw.toString('hex');
    for (const text of [hex, `${hex}\n`, `${hex.toUpperCase()}\r\n`]) {
      const secret = (await loadBackupSecret({ keyFile: file('hex', text) })) as { key: Uint8Array };
      expect(Buffer.from(secret.key).equals(raw)).toBe(true);
    }
  });

  it('refuse every other size with the sizes they accept', async () => {
    for (const content of [randomBytes(31), randomBytes(33), randomBytes(16), 'ab'.repeat(31), `${'g'.repeat(64)}\n`, '', randomBytes(5000)]) {
      await expect(loadBackupSecret({ keyFile: file('bad', content) })).rejects.toThrow(/expected 32 raw bytes or 64 hexadecimal characters/);
    }
    expect(() => parseKeyFile(new Uint8Array(64), 'k')).toThrow(/got 64 bytes/);
  });

  it('name a missing file', async () => {
    const error = await loadBackupSecret({ keyFile: path.join(dir, 'missing') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).code).toBe('io');
    expect((error as Error).message).toMatch(/key file .*missing: ENOENT/);
  });
});

describe('passphrases', () => {
  it('come from the named environment variable, NFC-normalized', async () => {
    const secret = await loadBackupSecret({ passphraseEnv: 'BK_PASS' }, { BK_PASS: 'cafe\u0301 au lait, no sugar' });
    expect(secret).toEqual({ passphrase: 'caf\u00e9 au lait, no sugar' });
  });

  it('refuse an unset, empty or short variable, and both or neither of the two flags', async () => {
    await expect(loadBackupSecret({ passphraseEnv: 'BK_UNSET' }, {})).rejects.toThrow(/BK_UNSET is not set or empty/);
    await expect(loadBackupSecret({ passphraseEnv: 'BK_EMPTY' }, { BK_EMPTY: '' })).rejects.toThrow(/BK_EMPTY is not set or empty/);
    await expect(loadBackupSecret({ passphraseEnv: 'BK_SHORT' }, { BK_SHORT: 'hunter2' })).rejects.toThrow(/at least 12 characters/);
    await expect(loadBackupSecret({})).rejects.toThrow(/exactly one of --key-file FILE or --passphrase-env VAR/);
    await expect(loadBackupSecret({ keyFile: 'k', passphraseEnv: 'P' })).rejects.toThrow(/exactly one/);
  });
});

describe('keygen', () => {
  it('writes 64 hex characters and a newline, mode 0600, loadable, and never overwrites', async () => {
    const target = path.join(dir, 'new.key');
    await writeNewKeyFile(target);
    const text = readFileSync(target, 'utf8');
    expect(text).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    const secret = (await loadBackupSecret({ keyFile: target })) as { key: Uint8Array };
    expect(Buffer.from(secret.key).toString('hex')).toBe(text.trim());
    const error = await writeNewKeyFile(target).catch((e: unknown) => e);
    expect((error as BackupError).code).toBe('io');
    expect((error as Error).message).toContain('already exists');
    expect(readFileSync(target, 'utf8')).toBe(text);
  });
});
