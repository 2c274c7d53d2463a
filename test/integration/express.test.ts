/**
 * The express-session store against a real three-node cluster (node processes, LevelDB, gRPC):
 * a real Express 5 app on 127.0.0.1:0, driven by real HTTP requests (node's fetch) that carry the
 * session cookie by hand. Login, the next request, touch, logout, logging a user out everywhere,
 * all/length/clear, the client id changing at login, and a kill -9 of the leader while a user is
 * logged in. The app, the client and the cluster are closed in afterAll, pass or fail.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import session, { type SessionData } from 'express-session';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionraftStore, TTL_MS_MAX } from '../../src/adapters/express.js';
import { InvalidArgumentError, NotFoundError, SessionClient } from '../../src/client/index.js';
import { TestCluster, sleep } from './harness.js';

declare module 'express-session' {
  interface SessionData {
    user?: string;
    views?: number;
  }
}

const COOKIE_MAX_AGE_MS = 60_000;
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];

let cluster: TestCluster | undefined;
let client: SessionClient | undefined;
let store: SessionraftStore;
let server: Server | undefined;
let base = '';

function makeApp(sessionStore: SessionraftStore): express.Express {
  const app = express();
  app.use(
    session({
      store: sessionStore,
      secret: 'sessionraft-test-secret',
      name: 'sid',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: COOKIE_MAX_AGE_MS },
    }),
  );
  const me = (req: Request) => ({ sid: req.sessionID, user: req.session.user ?? null, views: req.session.views ?? 0 });
  // The usual login: a new session id, then the user.
  app.post('/login/:user', (req, res, next) => {
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.user = req.params.user as string;
      res.json(me(req));
    });
  });
  // A login that keeps the (anonymous) session's id: the store must move it to the user's client id.
  app.post('/login-in-place/:user', (req, res) => {
    req.session.user = req.params.user as string;
    res.json(me(req));
  });
  app.post('/view', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    res.json(me(req));
  });
  app.get('/me', (req, res) => {
    res.json(me(req));
  });
  app.post('/logout', (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.json({ loggedOut: true })));
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(503).json({ error: String(error) });
  });
  return app;
}

interface Reply {
  readonly status: number;
  readonly body: { sid?: string; user?: string | null; views?: number; error?: string; loggedOut?: boolean };
}

/** One browser: keeps the session cookie the app sets and sends it back on every request. */
class Browser {
  cookie = '';

  async request(method: 'GET' | 'POST', path: string): Promise<Reply> {
    const response = await fetch(base + path, {
      method,
      headers: this.cookie ? { cookie: this.cookie } : {},
      signal: AbortSignal.timeout(15_000),
    });
    for (const header of response.headers.getSetCookie()) {
      const pair = header.split(';')[0]!;
      if (pair.startsWith('sid=')) this.cookie = pair;
    }
    return { status: response.status, body: (await response.json()) as Reply['body'] };
  }
}

/** Runs a store method that takes a callback as a promise. */
function call<T>(run: (callback: (error: unknown, value?: T) => void) => void): Promise<T | undefined> {
  return new Promise((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value))));
}

async function clusterSession(sid: string) {
  return (await client!.get(store.sessionIdOf(sid))).session;
}

async function login(user: string, path = '/login/'): Promise<{ browser: Browser; sid: string }> {
  const browser = new Browser();
  const reply = await browser.request('POST', path + user);
  expect(reply).toMatchObject({ status: 200, body: { user } });
  expect(browser.cookie).toMatch(/^sid=/);
  return { browser, sid: reply.body.sid! };
}

beforeAll(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
  await cluster.waitForLeader();
  client = await SessionClient.connect({ endpoints: [...cluster.endpoints], retriesMax: 10, deadlineMsDefault: 8_000 });
  store = new SessionraftStore({
    client,
    clientIdOf: (s: SessionData) => s.user ?? 'anonymous',
    clientIds: () => ['anonymous', ...USERS],
  });
  server = await new Promise<Server>((resolve, reject) => {
    const listening = makeApp(store).listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterEach(() => {
  expect(cluster!.unexpectedExits, cluster!.describeUnexpectedExits()).toEqual([]);
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  client?.close();
  await cluster?.close();
});

describe('SessionraftStore in a real Express app', () => {
  it('stores a logged-in user under the express id and the user as client id; the next request sees it', async () => {
    const { browser, sid } = await login('alice');
    const stored = await clusterSession(sid);
    expect(stored.sessionId).toBe(sid); // uid-safe ids fit the cluster's id pattern as they are
    expect(stored).toMatchObject({ clientId: 'alice', transport: 'http', version: 1 });
    expect(stored.data.express).toMatchObject({ sid, session: { user: 'alice', cookie: { originalMaxAge: COOKIE_MAX_AGE_MS } } });
    expect(stored.ttlMs).toBeGreaterThan(COOKIE_MAX_AGE_MS - 5_000);
    expect(stored.ttlMs).toBeLessThanOrEqual(COOKIE_MAX_AGE_MS);

    expect(await browser.request('GET', '/me')).toEqual({ status: 200, body: { sid, user: 'alice', views: 0 } });
    // A change is saved whole (the data key replaced), on the same cluster session.
    expect((await browser.request('POST', '/view')).body.views).toBe(1);
    expect((await browser.request('POST', '/view')).body.views).toBe(2);
    const after = await clusterSession(sid);
    expect(after.data.express).toMatchObject({ sid, session: { user: 'alice', views: 2 } });
    expect(after.clientId).toBe('alice');
    // A stranger without the cookie is nobody.
    expect((await new Browser().request('GET', '/me')).body.user).toBeNull();
  });

  it('touches an unmodified session: the idle expiry slides, the data stays', async () => {
    const { browser, sid } = await login('bob');
    const before = await clusterSession(sid);
    await sleep(50);
    expect((await browser.request('GET', '/me')).body.user).toBe('bob');
    // express-session touches after the response is sent: wait for it.
    let after = await clusterSession(sid);
    for (let i = 0; i < 50 && after.version === before.version; i++) {
      await sleep(20);
      after = await clusterSession(sid);
    }
    expect(after.version).toBe(before.version + 1);
    expect(after.expiresAtMs).toBeGreaterThan(before.expiresAtMs);
    expect(after.data).toEqual(before.data);

    const noTouch = new SessionraftStore({ client: client!, disableTouch: true });
    await call((done) => noTouch.touch(sid, (after.data.express as unknown as { session: SessionData }).session, done));
    expect((await clusterSession(sid)).version).toBe(after.version);
  });

  it('moves a session to the user when it logs in without a new id (delete and create under the same id)', async () => {
    const browser = new Browser();
    const anonymous = await browser.request('POST', '/view');
    const sid = anonymous.body.sid!;
    expect(await clusterSession(sid)).toMatchObject({ sessionId: sid, clientId: 'anonymous' });
    expect(await browser.request('POST', '/login-in-place/carol')).toMatchObject({ status: 200, body: { sid, user: 'carol', views: 1 } });
    const moved = await clusterSession(sid);
    expect(moved).toMatchObject({ sessionId: sid, clientId: 'carol', version: 1 });
    expect(moved.data.express).toMatchObject({ sid, session: { user: 'carol', views: 1 } });
    expect(await browser.request('GET', '/me')).toMatchObject({ status: 200, body: { sid, user: 'carol', views: 1 } });
  });

  it('logout destroys the session in the cluster; the old cookie then finds nobody', async () => {
    const { browser, sid } = await login('dave');
    expect((await browser.request('POST', '/logout')).body).toEqual({ loggedOut: true });
    await expect(clusterSession(sid)).rejects.toBeInstanceOf(NotFoundError);
    expect((await browser.request('GET', '/me')).body).toMatchObject({ user: null });
    await expect(call<SessionData | null>((done) => store.get(sid, done))).resolves.toBeNull();
  });

  it('destroyAllForUser logs a user out on every device and leaves the others logged in', async () => {
    const phone = await login('erin');
    const laptop = await login('erin');
    const other = await login('alice');
    expect(phone.sid).not.toBe(laptop.sid);
    await expect(store.destroyAllForUser('erin')).resolves.toBe(2);
    expect((await phone.browser.request('GET', '/me')).body.user).toBeNull();
    expect((await laptop.browser.request('GET', '/me')).body.user).toBeNull();
    expect((await other.browser.request('GET', '/me')).body.user).toBe('alice');
    // The callback form too.
    await expect(call<number>((done) => store.destroyAllForUser('erin', done))).resolves.toBe(0);
  });

  it('all, length and clear cover the express sessions of the listed users; other sessions stay', async () => {
    await call((done) => store.clear(done));
    const a = await login('alice');
    const b = await login('bob');
    const anonymous = new Browser();
    const anonymousSid = (await anonymous.request('POST', '/view')).body.sid!;
    // A session of alice written by other code (not an express session): all and clear skip it.
    const foreign = await client!.create({ clientId: 'alice', transport: 'ws', data: { socket: 1 } });

    const all = await call<Record<string, SessionData>>((done) => store.all(done));
    expect(Object.keys(all!).sort()).toEqual([a.sid, b.sid, anonymousSid].sort());
    expect(all![a.sid]).toMatchObject({ user: 'alice' });
    expect(all![anonymousSid]).toMatchObject({ views: 1 });
    const { count } = await client!.count();
    await expect(call<number>((done) => store.length(done))).resolves.toBe(count);
    expect(count).toBeGreaterThanOrEqual(4);

    await call((done) => store.clear(done));
    await expect(call((done) => store.all(done))).resolves.toEqual({});
    expect((await a.browser.request('GET', '/me')).body.user).toBeNull();
    expect((await client!.get(foreign.session.sessionId)).session.data).toEqual({ socket: 1 });
    await expect(call<number>((done) => store.length(done))).resolves.toBe(count - 3);

    // With a clientIdOf but no clientIds, all and clear cannot know every user: they fail.
    const unscoped = new SessionraftStore({ client: client!, clientIdOf: () => 'x' });
    await expect(call((done) => unscoped.all(done))).rejects.toThrow(/clientIds/);
    await expect(call((done) => unscoped.clear(done))).rejects.toThrow(/clientIds/);
  });

  it('stores an id outside the pattern under a derived id, clamps TTLs, deletes on an expired cookie, and passes SDK errors on', async () => {
    const odd = 'custom:id/with.dots';
    const sess = { cookie: { originalMaxAge: null, expires: null }, user: 'bob' } as unknown as SessionData;
    await call((done) => store.set(odd, sess, done));
    const derived = store.sessionIdOf(odd);
    expect(derived).toMatch(/^sha256-[A-Za-z0-9_-]{43}$/);
    expect(store.sessionIdOf(odd)).toBe(new SessionraftStore({ client: client! }).sessionIdOf(odd));
    const stored = (await client!.get(derived)).session;
    expect(stored).toMatchObject({ clientId: 'bob', ttlMs: 86_400_000 }); // no cookie expiry: the default 1 day
    await expect(call((done) => store.get(odd, done))).resolves.toMatchObject({ user: 'bob' });
    await expect(call((done) => store.get('missing-session-id', done))).resolves.toBeNull();

    const year = { cookie: { originalMaxAge: 365 * 86_400_000, expires: new Date(Date.now() + 365 * 86_400_000) } } as unknown as SessionData;
    await call((done) => store.set(odd, year, done));
    expect((await client!.get(derived)).session).toMatchObject({ clientId: 'anonymous', ttlMs: TTL_MS_MAX });

    const expired = { cookie: { originalMaxAge: 1, expires: new Date(Date.now() - 1_000) } } as unknown as SessionData;
    await call((done) => store.set(odd, expired, done));
    await expect(client!.get(derived)).rejects.toBeInstanceOf(NotFoundError);

    const prefixed = new SessionraftStore({ client: client!, prefix: 'app2-', ttl: 5 });
    await call((done) => prefixed.set('abc', { cookie: {} } as unknown as SessionData, done));
    expect((await client!.get('app2-abc')).session.ttlMs).toBe(5_000);
    expect(() => new SessionraftStore({ client: client!, prefix: 'sess:' })).toThrow(RangeError);

    const badClient = new SessionraftStore({ client: client!, clientIdOf: () => '' });
    await expect(call((done) => badClient.set('bad-client-id', sess, done))).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('fails the request (next(err)) when the cluster cannot answer, rather than logging the user out', async () => {
    const { browser, sid } = await login('dave');
    // A second app on a store whose client is closed: every call fails at once.
    const closed = await SessionClient.connect({ endpoints: [...cluster!.endpoints], retriesMax: 0, deadlineMsDefault: 2_000 });
    closed.close();
    const broken = await new Promise<Server>((resolve, reject) => {
      const listening = makeApp(new SessionraftStore({ client: closed })).listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(listening)));
    });
    try {
      const response = await fetch(`http://127.0.0.1:${(broken.address() as AddressInfo).port}/me`, { headers: { cookie: browser.cookie } });
      expect(response.status).toBe(503);
      expect(((await response.json()) as Reply['body']).error).toBe('CancelledError: the client is closed'); // the SDK's error, as is
      expect(response.headers.getSetCookie()).toEqual([]);
    } finally {
      broken.closeAllConnections();
      await new Promise((resolve) => broken.close(resolve));
    }
    // The session is untouched, and the working app still sees the user.
    expect((await clusterSession(sid)).clientId).toBe('dave');
    expect((await browser.request('GET', '/me')).body.user).toBe('dave');
  });

  it('keeps a logged-in user logged in across a kill -9 of the leader', async () => {
    const { browser, sid } = await login('carol');
    expect((await browser.request('GET', '/me')).body.user).toBe('carol');
    const leader = await cluster!.waitForLeader();
    await cluster!.signal(leader, 'SIGKILL');
    const killedAt = Date.now();

    // Every answer is either a transient error or the logged-in user: never a logged-out one.
    const replies: Reply[] = [];
    let firstOkMs: number | undefined;
    while (Date.now() - killedAt < 10_000) {
      const reply = await browser.request('GET', '/me');
      replies.push(reply);
      if (reply.status === 200) {
        expect(reply.body).toMatchObject({ sid, user: 'carol' });
        firstOkMs ??= Date.now() - killedAt;
        if (replies.filter((r) => r.status === 200).length >= 5) break;
      } else {
        expect(reply.status).toBe(503);
        await sleep(100);
      }
    }
    expect(firstOkMs, JSON.stringify(replies)).toBeDefined();
    expect(firstOkMs!).toBeLessThan(5_000);
    // Writes work again under the new leader, on the same session.
    expect((await browser.request('POST', '/view')).body).toMatchObject({ sid, user: 'carol', views: 1 });
    expect(await clusterSession(sid)).toMatchObject({ clientId: 'carol', data: { express: { session: { views: 1 } } } });
  });
});
