/**
 * What the client-side commands (session, status, cluster) share: numeric flag parsing that
 * refuses what is not a number (a usage error, exit 2), the endpoint list, and exit codes that
 * follow the gRPC status of a failed call.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SessionRaftError } from '../client/index.js';
import { UsageError } from './node-command.js';

export { UsageError };

/** The exit code of a usage error (an unknown flag, a bad value, a missing argument). */
export const EXIT_USAGE = 2;
/** The exit code of a failed call is this plus its gRPC status code (NOT_FOUND 5 → 15). */
export const EXIT_GRPC_BASE = 10;

export const ENDPOINTS_DEFAULT = '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003';

/** `text` as an integer in [min, max], or a UsageError naming the flag. undefined stays undefined. */
export function integerFlag(flag: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`--${flag}: expected an integer, got '${text}'`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${flag}: expected an integer in [${min}, ${max}], got '${text}'`);
  }
  return value;
}

/** --endpoints, else SESSIONRAFT_ENDPOINTS, else the local cluster's three nodes; each host:port. */
export function endpointsFlag(text: string | undefined): string[] {
  const env = process.env.SESSIONRAFT_ENDPOINTS;
  const source = text ?? (env !== undefined && env !== '' ? env : ENDPOINTS_DEFAULT);
  const endpoints = source
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (endpoints.length === 0) throw new UsageError(`--endpoints: expected host:port,..., got '${source}'`);
  for (const endpoint of endpoints) {
    const match = /^(.+):(\d{1,5})$/.exec(endpoint);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65_535) {
      throw new UsageError(`--endpoints: expected host:port, got '${endpoint}'`);
    }
  }
  return endpoints;
}

/** One of `choices`, or a UsageError. */
export function choiceFlag<T extends string>(flag: string, text: string | undefined, choices: readonly T[]): T | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`--${flag}: expected ${choices.join(' | ')}, got '${text}'`);
  return text as T;
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT_USAGE;
  if ((error as { code?: unknown }).code?.toString().startsWith('ERR_PARSE_ARGS')) return EXIT_USAGE;
  if (error instanceof SessionRaftError) return EXIT_GRPC_BASE + error.code;
  return 1;
}

/** The version field of the package.json this file ships in (dist/src/cli or src/cli). */
export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'sessionraft' && manifest.version) return manifest.version;
    } catch {
      // no package.json here: look further up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}
