/**
 * The client connection flags (--tls-dir, --ca/--cert/--key, --client-token-file): what they turn
 * into, and the usage errors (exit 2) that say what is wrong before anything connects.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/args.js';
import { clientConnectionFromFlags } from '../../../src/cli/client-connection.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-client-flags-'));
const file = (name: string, text: string): string => {
  const full = path.join(dir, name);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, text);
  return full;
};
const TOKEN = 'client-token-0123456789abcdef';

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function usageError(values: Record<string, string>): string {
  try {
    clientConnectionFromFlags(values);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`no usage error for ${JSON.stringify(values)}`);
}

describe('clientConnectionFromFlags', () => {
  it('is plaintext without a token when no flag is given', () => {
    expect(clientConnectionFromFlags({})).toEqual({});
  });

  it('reads ca.crt, client.crt and client.key of --tls-dir, and ca.crt alone when there is no client certificate', () => {
    file('full/ca.crt', 'CA');
    file('full/client.crt', 'CERT');
    file('full/client.key', 'KEY');
    file('ca-only/ca.crt', 'CA');
    const full = clientConnectionFromFlags({ 'tls-dir': path.join(dir, 'full') });
    expect({ ca: `${full.tls?.ca}`, cert: `${full.tls?.cert}`, key: `${full.tls?.key}` }).toEqual({ ca: 'CA', cert: 'CERT', key: 'KEY' });
    const caOnly = clientConnectionFromFlags({ 'tls-dir': path.join(dir, 'ca-only') });
    expect(Object.keys(caOnly.tls!)).toEqual(['ca']);
  });

  it('reads explicit files: --ca alone (server-only TLS), or with --cert and --key; and the token, trimmed', () => {
    const ca = file('x/ca.pem', 'CA');
    const cert = file('x/c.pem', 'CERT');
    const key = file('x/k.pem', 'KEY');
    const token = file('token', `${TOKEN}\n`);
    expect(Object.keys(clientConnectionFromFlags({ ca }).tls!)).toEqual(['ca']);
    const both = clientConnectionFromFlags({ ca, cert, key, 'client-token-file': token });
    expect(`${both.tls?.cert}/${both.tls?.key}`).toBe('CERT/KEY');
    expect(both.token).toBe(TOKEN);
    expect(clientConnectionFromFlags({ 'client-token-file': token })).toEqual({ token: TOKEN });
  });

  it('refuses, naming the flag: a missing file, --cert without --key and back, --tls-dir without ca.crt or with explicit files, a bad token', () => {
    const ca = file('y/ca.pem', 'CA');
    const cert = file('y/c.pem', 'CERT');
    file('half/ca.crt', 'CA');
    file('half/client.crt', 'CERT');
    mkdirSync(path.join(dir, 'empty-dir'));
    expect(usageError({ ca: path.join(dir, 'nope.pem') })).toBe(`--ca ${path.join(dir, 'nope.pem')}: no such file`);
    expect(usageError({ ca, cert })).toMatch(/^--cert needs --key/);
    expect(usageError({ key: cert })).toMatch(/^--key needs --cert/);
    expect(usageError({ 'tls-dir': path.join(dir, 'empty-dir') })).toMatch(/^--tls-dir .*empty-dir: no ca\.crt in it/);
    expect(usageError({ 'tls-dir': path.join(dir, 'half') })).toMatch(/client\.crt without client\.key/);
    expect(usageError({ 'tls-dir': path.join(dir, 'half'), ca })).toMatch(/give it or --ca, not both/);
    expect(usageError({ 'client-token-file': path.join(dir, 'no-token') })).toMatch(/^--client-token-file .*no-token: no such file/);
    expect(usageError({ 'client-token-file': file('empty-token', '\n') })).toMatch(/the file is empty/);
    expect(usageError({ 'client-token-file': file('short-token', 'short\n') })).toMatch(/at least 16 characters/);
  });
});
