/**
 * An express-session store on a sessionraft cluster: `import { SessionraftStore } from
 * 'sessionraft/express'`.
 *
 * express-session names its sessions itself (uid-safe, 24 bytes in base64url: 32 characters of
 * [A-Za-z0-9_-]) and the cluster takes that id as the session's id (Create's caller-chosen
 * `session_id`). An id that does not fit [A-Za-z0-9_-]{1,128} after the prefix (a custom `genid`)
 * is stored under `sha256-` + the base64url SHA-256 of the prefixed id (50 characters), the same
 * for every process; the express id is kept in the data so `get` and `all` still answer by it.
 *
 * The express session is stored as one top-level key of the session's data, `express`:
 * `{ sid, session }` with the session serialized as JSON. Update merges top-level keys, so each
 * `set` replaces that key whole and leaves any other key (written by other code through the SDK)
 * alone. The idle TTL of the cluster's session follows the cookie (see `ttl`), and every `set` or
 * `touch` slides it.
 */
import { createHash } from 'node:crypto';
import session from 'express-session';
import type { SessionData } from 'express-session';
import {
  AlreadyExistsError,
  NotFoundError,
  type JsonObject,
  type Session,
  type SessionClient,
} from '../client/index.js';
import { SESSION_ID_PATTERN, TTL_MS_MAX, TTL_MS_MIN } from '../session/index.js';

/** The data key the express session is stored under. */
export const EXPRESS_DATA_KEY = 'express';
/** The client id of every session when `clientIdOf` is not given. */
export const ANONYMOUS_CLIENT_ID = 'anonymous';
/** The idle TTL when neither `ttl` nor the cookie says one: a day, as connect-redis. */
export const TTL_SECONDS_DEFAULT = 86_400;
/** The cluster's TTL range (the session state machine's): a longer cookie gets the maximum. */
export { TTL_MS_MAX, TTL_MS_MIN };

const PREFIX_PATTERN = /^[A-Za-z0-9_-]{0,64}$/;
const DERIVED_ID_PREFIX = 'sha256-';
/** Writes in flight at once in clear(). */
const CLEAR_CONCURRENCY = 16;
/** Rounds of update/create/delete one set() may take when other writers race it. */
const SET_ATTEMPTS_MAX = 4;

export interface SessionraftStoreOptions {
  /** A connected client (`connect(...)`); the store never closes it. */
  readonly client: SessionClient;
  /**
   * The session's `client_id` (the user): `destroyAllForUser(id)` logs out every session with it.
   * When it changes (at login), `set` deletes the session and creates it again under the same id.
   * Must give 1-256 printable ASCII characters. @default () => 'anonymous'
   */
  readonly clientIdOf?: (session: SessionData) => string;
  /**
   * The client ids `all()` and `clear()` cover: the cluster lists sessions per client id only.
   * @default ['anonymous'] when `clientIdOf` is not given; with a `clientIdOf` and no
   * `clientIds`, `all()` and `clear()` fail (they could not know every user).
   */
  readonly clientIds?: () => Iterable<string> | Promise<Iterable<string>>;
  /**
   * Idle TTL in seconds, or a function of the session giving it. A number is used only when the
   * cookie has no expiry (as connect-redis); a function always wins. Clamped to 1 s-30 days.
   * @default the cookie's remaining maxAge, else 86400
   */
  readonly ttl?: number | ((session: SessionData) => number);
  /** Make `touch` a no-op (a `set` still slides the TTL). @default false */
  readonly disableTouch?: boolean;
  /**
   * Put before every express id to form the cluster's session id, to keep apart apps that share
   * a cluster: 0-64 characters of [A-Za-z0-9_-] (the cluster's id alphabet; no ':'). @default ''
   */
  readonly prefix?: string;
  /** The sessions' `transport` tag: 1-64 characters of [a-z0-9_-]. @default 'http' */
  readonly transport?: string;
}

type Callback<T = void> = (error: unknown, value?: T) => void;

/** The stored shape under `data.express`. */
interface StoredExpressSession {
  readonly sid: string;
  readonly session: SessionData;
}

function storedExpress(data: JsonObject, sid?: string): StoredExpressSession | undefined {
  const entry = data[EXPRESS_DATA_KEY];
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return undefined;
  if (typeof entry.sid !== 'string' || entry.session === null || typeof entry.session !== 'object' || Array.isArray(entry.session)) {
    return undefined;
  }
  if (sid !== undefined && entry.sid !== sid) return undefined;
  return { sid: entry.sid, session: entry.session as unknown as SessionData };
}

/**
 * Runs `work`, then the callback (if any) with its outcome, outside the promise chain (a throw in
 * the callback is an uncaught exception, as with any callback API, not a lost rejection); also
 * returns the promise.
 */
function settle<T>(work: Promise<T>, callback: Callback<T> | undefined): Promise<T> {
  if (callback !== undefined) {
    work.then(
      (value) => process.nextTick(callback, null, value),
      (error: unknown) => process.nextTick(callback, error),
    );
  }
  return work;
}

async function ignoreNotFound<T>(work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

export class SessionraftStore extends session.Store {
  readonly client: SessionClient;
  private readonly clientIdOf: (session: SessionData) => string;
  private readonly clientIdsOf: (() => Iterable<string> | Promise<Iterable<string>>) | undefined;
  private readonly ttl: number | ((session: SessionData) => number);
  private readonly disableTouch: boolean;
  private readonly prefix: string;
  private readonly transport: string;

  constructor(options: SessionraftStoreOptions) {
    super();
    if (options?.client === undefined) throw new TypeError('SessionraftStore needs a connected client: { client: await connect(...) }');
    const prefix = options.prefix ?? '';
    if (!PREFIX_PATTERN.test(prefix)) throw new RangeError(`prefix must be 0-64 characters of [A-Za-z0-9_-], got '${prefix}'`);
    const ttl = options.ttl ?? TTL_SECONDS_DEFAULT;
    if (typeof ttl === 'number' && !(Number.isFinite(ttl) && ttl > 0)) throw new RangeError(`ttl must be a positive number of seconds, got ${ttl}`);
    this.client = options.client;
    this.clientIdOf = options.clientIdOf ?? (() => ANONYMOUS_CLIENT_ID);
    this.clientIdsOf = options.clientIds ?? (options.clientIdOf === undefined ? () => [ANONYMOUS_CLIENT_ID] : undefined);
    this.ttl = ttl;
    this.disableTouch = options.disableTouch ?? false;
    this.prefix = prefix;
    this.transport = options.transport ?? 'http';
  }

  /** The cluster's session id of an express session id (deterministic: every process agrees). */
  sessionIdOf(sid: string): string {
    const id = this.prefix + sid;
    if (SESSION_ID_PATTERN.test(id)) return id;
    return DERIVED_ID_PREFIX + createHash('sha256').update(id, 'utf8').digest('base64url');
  }

  /** The idle TTL in ms for this session, or undefined when its cookie has already expired. */
  ttlMsOf(sess: SessionData): number | undefined {
    let ms: number;
    if (typeof this.ttl === 'function') ms = this.ttl(sess) * 1000;
    else {
      const expires = sess.cookie?.expires as Date | string | null | undefined;
      ms = expires ? new Date(expires).getTime() - Date.now() : this.ttl * 1000;
    }
    if (!(ms > 0)) return undefined;
    return Math.min(Math.max(Math.ceil(ms), TTL_MS_MIN), TTL_MS_MAX);
  }

  override get(sid: string, callback: Callback<SessionData | null>): void {
    void settle(this.read(sid), callback).catch(() => undefined);
  }

  override set(sid: string, sess: SessionData, callback?: Callback): void {
    void settle(this.save(sid, sess), callback).catch(() => undefined);
  }

  override destroy(sid: string, callback?: Callback): void {
    void settle(this.remove(sid), callback).catch(() => undefined);
  }

  override touch(sid: string, sess: SessionData, callback?: Callback): void {
    void settle(this.slide(sid, sess), callback).catch(() => undefined);
  }

  /** Every express session of the covered client ids (see `clientIds`), as `{ [sid]: session }`. */
  override all(callback: Callback<Record<string, SessionData>>): void {
    void settle(this.listAll(), callback).catch(() => undefined);
  }

  /** Live sessions in the whole cluster (Count of every client: the API counts all or one client). */
  override length(callback: Callback<number>): void {
    void settle(
      this.client.count().then((result) => result.count),
      callback,
    ).catch(() => undefined);
  }

  /** Deletes every express session of the covered client ids (see `clientIds`); other sessions stay. */
  override clear(callback?: Callback): void {
    void settle(this.removeAll(), callback).catch(() => undefined);
  }

  /** Logs a user out everywhere: deletes every session with this client id (any transport). Resolves to the number deleted. */
  destroyAllForUser(clientId: string, callback?: Callback<number>): Promise<number> {
    return settle(
      this.client.deleteByClient(clientId).then((result) => result.deleted),
      callback,
    );
  }

  private async read(sid: string): Promise<SessionData | null> {
    const read = await ignoreNotFound(this.client.get(this.sessionIdOf(sid)));
    if (read === undefined) return null;
    return storedExpress(read.session.data, sid)?.session ?? null;
  }

  private async save(sid: string, sess: SessionData): Promise<void> {
    const sessionId = this.sessionIdOf(sid);
    const ttlMs = this.ttlMsOf(sess);
    if (ttlMs === undefined) {
      await this.remove(sid);
      return;
    }
    const clientId = this.clientIdOf(sess);
    const stored: StoredExpressSession = { sid, session: JSON.parse(JSON.stringify(sess)) as SessionData };
    const data: JsonObject = { [EXPRESS_DATA_KEY]: stored as unknown as JsonObject };
    for (let attempt = 0; attempt < SET_ATTEMPTS_MAX; attempt++) {
      let current: Session | undefined;
      try {
        current = (await this.client.update(sessionId, { data, ttlMs })).session;
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        try {
          await this.client.create({ sessionId, clientId, transport: this.transport, data, ttlMs });
          return;
        } catch (createError) {
          if (createError instanceof AlreadyExistsError) continue; // created meanwhile: update it
          throw createError;
        }
      }
      // An ASYNC update answers without the session: the client id cannot be checked then.
      if (current === undefined || current.clientId === clientId) return;
      // The user changed (login): the cluster's client id is fixed at create, so delete and create
      // again under the same id. Between the two a concurrent get finds no session.
      await ignoreNotFound(this.client.delete(sessionId));
      try {
        await this.client.create({ sessionId, clientId, transport: this.transport, data, ttlMs });
        return;
      } catch (createError) {
        if (!(createError instanceof AlreadyExistsError)) throw createError;
      }
    }
    throw new Error(`set of session ${sid}: other writers kept changing it (${SET_ATTEMPTS_MAX} attempts)`);
  }

  private async remove(sid: string): Promise<void> {
    await ignoreNotFound(this.client.delete(this.sessionIdOf(sid)));
  }

  private async slide(sid: string, sess: SessionData): Promise<void> {
    if (this.disableTouch) return;
    const ttlMs = this.ttlMsOf(sess);
    if (ttlMs === undefined) return;
    // An update without data changes no key and slides the idle expiry with the cookie's TTL; a
    // session already gone stays gone (the next get answers null).
    await ignoreNotFound(this.client.update(this.sessionIdOf(sid), { ttlMs }));
  }

  private async coveredClientIds(): Promise<string[]> {
    if (this.clientIdsOf === undefined) {
      throw new Error("all() and clear() need the store's clientIds option when clientIdOf is given: the cluster lists sessions per client id only");
    }
    return [...new Set(await this.clientIdsOf())];
  }

  /** The express sessions of the covered client ids whose id belongs to this store (its prefix). */
  private async ownSessions(): Promise<Array<{ sessionId: string; stored: StoredExpressSession }>> {
    const found: Array<{ sessionId: string; stored: StoredExpressSession }> = [];
    for (const clientId of await this.coveredClientIds()) {
      for await (const s of this.client.listAll(clientId)) {
        const stored = storedExpress(s.data);
        if (stored !== undefined && this.sessionIdOf(stored.sid) === s.sessionId) found.push({ sessionId: s.sessionId, stored });
      }
    }
    return found;
  }

  private async listAll(): Promise<Record<string, SessionData>> {
    const all: Record<string, SessionData> = {};
    for (const { stored } of await this.ownSessions()) all[stored.sid] = stored.session;
    return all;
  }

  private async removeAll(): Promise<void> {
    const queue = (await this.ownSessions()).map((s) => s.sessionId);
    const worker = async (): Promise<void> => {
      for (let id = queue.pop(); id !== undefined; id = queue.pop()) await ignoreNotFound(this.client.delete(id));
    };
    await Promise.all(Array.from({ length: Math.min(CLEAR_CONCURRENCY, queue.length) }, worker));
  }
}
