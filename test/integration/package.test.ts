/**
 * The npm package as an app gets it: the repository's package files are copied to a temp dir,
 * `npm pack` there runs the `prepare` script (the build a git install runs too), the tarball is
 * installed into a scratch app, and the app imports 'sessionraft' from an .mjs file in a child
 * process (and talks to a real server with it) and typechecks a .ts file with the project's own
 * tsc under moduleResolution nodenext. The app also installs express-session (the optional peer
 * of 'sessionraft/express') and its types, and uses the express store from .mjs and .ts alike.
 * Every temp dir is removed in afterAll, pass or fail.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../unit/server/harness.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tscPath = path.join(repoRoot, 'node_modules/.bin/tsc');
/** What `npm pack` needs to build the package (its `files` and `prepare` decide the rest). */
const PACKAGE_SOURCES = ['package.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'src', 'proto'];
const COMMAND_TIMEOUT_MS = 60_000;

const root = mkdtempSync(path.join(tmpdir(), 'sessionraft-package-'));
const packageDir = path.join(root, 'package');
const appDir = path.join(root, 'app');
let server: TestServer | undefined;

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

/** The versions the repository pins (devDependencies): the app's peer install of the express store. */
const EXPRESS_SESSION_VERSION = '1.19.0';
const EXPRESS_SESSION_TYPES_VERSION = '1.19.0';

/** A scratch ESM app: main.mjs and express.mjs use the package at run time, main.ts only typechecks. */
function writeApp(): void {
  mkdirSync(appDir);
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'sessionraft-package-app', private: true, type: 'module' }),
    'tsconfig.json': JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        typeRoots: [path.join(repoRoot, 'node_modules/@types')],
        types: ['node'],
      },
      files: ['main.ts'],
    }),
    'main.mjs': `
import { existsSync } from 'node:fs';
import * as sdk from 'sessionraft';
const names = ['SessionClient', 'connect', 'NotFoundError', 'UnavailableError', 'SessionRaftError', 'errorFromStatus'];
const exports = Object.fromEntries(names.map((name) => [name, typeof sdk[name]]));
let deepImport = 'imported';
try { await import('sessionraft/dist/src/client/index.js'); } catch (error) { deepImport = error.code; }
const client = await sdk.connect({ endpoints: [process.argv[2]] });
try {
  const { session, index } = await client.create({ clientId: 'package-app', transport: 'http', data: { from: 'tarball' } });
  const read = await client.get(session.sessionId, { minIndex: index });
  const bin = existsSync('node_modules/.bin/sessionraft');
  console.log(JSON.stringify({ exports, deepImport, created: session, readBack: read.session.sessionId === session.sessionId, bin }));
} finally {
  client.close();
}
`,
    'express.mjs': `
import session from 'express-session';
import { connect } from 'sessionraft';
import { SessionraftStore } from 'sessionraft/express';
const client = await connect({ endpoints: [process.argv[2]] });
const call = (run) => new Promise((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value))));
try {
  const store = new SessionraftStore({ client, clientIdOf: (s) => s.user ?? 'anonymous' });
  const sid = 'uid-safe-like_id-0123456789abcdef';
  const expires = new Date(Date.now() + 60_000).toISOString();
  await call((done) => store.set(sid, { cookie: { originalMaxAge: 60_000, expires }, user: 'pkg-user' }, done));
  const read = await call((done) => store.get(sid, done));
  const missing = await call((done) => store.get('no-such-session', done));
  const stored = (await client.get(sid)).session;
  console.log(JSON.stringify({ isStore: store instanceof session.Store, read, missing, clientId: stored.clientId, sessionId: stored.sessionId }));
} finally {
  client.close();
}
`,
    'main.ts': `
import session from 'express-session';
import { SessionClient, connect, NotFoundError, type ConnectOptions, type CreateResult, type Session } from 'sessionraft';
import { SessionraftStore, type SessionraftStoreOptions } from 'sessionraft/express';

const options: ConnectOptions = { endpoints: ['127.0.0.1:7001'], deadlineMsDefault: 1_000 };
export const open = (): Promise<SessionClient> => connect(options);
export const opened: Promise<SessionClient> = SessionClient.connect(options);
export const create = (client: SessionClient): Promise<CreateResult> => client.create({ clientId: 'a', transport: 'http', data: { n: 1 } });
export async function find(client: SessionClient, sessionId: string): Promise<Session | undefined> {
  try {
    return (await client.get(sessionId, { consistency: 'stale' })).session;
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}
// The declarations are real types, not any: these must be errors.
// @ts-expect-error endpoints is required
export const noEndpoints = connect({});
// @ts-expect-error a session id is a string
export const numericId = (client: SessionClient) => client.get(42);

declare module 'express-session' {
  interface SessionData {
    user?: string;
  }
}
export const storeOptions = (client: SessionClient): SessionraftStoreOptions => ({ client, clientIdOf: (s) => s.user ?? 'anonymous', ttl: 3_600 });
export const sessions = (client: SessionClient) =>
  session({ store: new SessionraftStore(storeOptions(client)), secret: 's', resave: false, saveUninitialized: false });
export const logOutEverywhere = (store: SessionraftStore, user: string): Promise<number> => store.destroyAllForUser(user);
// @ts-expect-error ttl is seconds or a function of the session, not a string
export const badTtl = (client: SessionClient) => new SessionraftStore({ client, ttl: '1h' });
`,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(appDir, name), text);
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    timeout: COMMAND_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

beforeAll(async () => {
  for (const name of PACKAGE_SOURCES) cpSync(path.join(repoRoot, name), path.join(packageDir, name), { recursive: true });
  // prepare runs tsc: give it the repository's devDependencies without installing them again.
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(packageDir, 'node_modules'), 'dir');
  await npm(['pack', '--pack-destination', root], packageDir);
  const tarballs = readdirSync(root).filter((name) => name.endsWith('.tgz'));
  expect(tarballs).toEqual(['sessionraft-0.1.0.tgz']);

  writeApp();
  // --ignore-scripts: importing the client needs no native build of a dependency.
  await npm(
    [
      'install',
      '--prefer-offline',
      '--ignore-scripts',
      path.join(root, tarballs[0]!),
      `express-session@${EXPRESS_SESSION_VERSION}`,
      `@types/express-session@${EXPRESS_SESSION_TYPES_VERSION}`,
    ],
    appDir,
  );
  server = await startServer();
}, 120_000);

describe('the packed sessionraft package', () => {
  it('imports from an ESM app by its name, ships the bin and the proto, and talks to a server', async () => {
    const { stdout } = await run(process.execPath, ['main.mjs', server!.address], { cwd: appDir, timeout: COMMAND_TIMEOUT_MS });
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report.exports).toEqual({
      SessionClient: 'function',
      connect: 'function',
      NotFoundError: 'function',
      UnavailableError: 'function',
      SessionRaftError: 'function',
      errorFromStatus: 'function',
    });
    expect(report.deepImport).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(report.created).toMatchObject({ clientId: 'package-app', transport: 'http', data: { from: 'tarball' }, version: 1 });
    expect(report.readBack).toBe(true);
    expect(report.bin).toBe(true);
    expect(server!.backend.writes).toHaveLength(1);
  });

  it("imports the express-session store from 'sessionraft/express' and stores a session through it", async () => {
    const { stdout } = await run(process.execPath, ['express.mjs', server!.address], { cwd: appDir, timeout: COMMAND_TIMEOUT_MS });
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      isStore: true,
      read: { user: 'pkg-user', cookie: { originalMaxAge: 60_000 } },
      missing: null,
      clientId: 'pkg-user',
      sessionId: 'uid-safe-like_id-0123456789abcdef',
    });
  });

  it('typechecks a TypeScript app against its declarations (moduleResolution nodenext)', async () => {
    const result = await run(tscPath, ['-p', 'tsconfig.json'], { cwd: appDir, timeout: COMMAND_TIMEOUT_MS }).then(
      ({ stdout }) => ({ ok: true, output: stdout }),
      (error: { stdout?: string; message: string }) => ({ ok: false, output: error.stdout || error.message }),
    );
    expect(result).toEqual({ ok: true, output: '' });
  });
});
