/**
 * `sessionraft session <action>`: the data commands, through the SDK (src/client), for people
 * (a table) and scripts (--json, exit codes that follow the gRPC status: see args.ts).
 */
import { parseArgs } from 'node:util';
import {
  CancelledError,
  SessionClient,
  type Durability,
  type JsonObject,
  type ReadCallOptions,
  type ReadConsistency,
  type Session,
  type SessionEvent,
  type WriteCallOptions,
} from '../client/index.js';
import { UsageError, choiceFlag, endpointsFlag, integerFlag } from './args.js';
import { CLIENT_CONNECTION_FLAGS, CLIENT_CONNECTION_FLAG_NAMES, CLIENT_CONNECTION_HELP, clientConnectionFromFlags, type ClientConnection } from './client-connection.js';

const ACTIONS = ['create', 'get', 'update', 'touch', 'delete', 'list', 'count', 'delete-by-client', 'watch'] as const;
type Action = (typeof ACTIONS)[number];

/** TTL bounds the server enforces (1 s to 30 days); checked here too for a clear usage error. */
const TTL_MS_MIN = 1_000;
const TTL_MS_MAX = 30 * 24 * 3_600_000;

const COMMON_OPTIONS = [
  '  --endpoints E      host:port,... (default $SESSIONRAFT_ENDPOINTS, else 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003)',
  '  --timeout-ms T     deadline of the command, retries and redirects included (default 10000)',
  '  --json             print the result as JSON (one object) instead of a table',
  ...CLIENT_CONNECTION_HELP,
];
const WRITE_OPTIONS = ['  --durability D     sync | async (default: the node\'s, sync unless configured)'];
const READ_OPTIONS = ['  --consistency C    linearizable | stale (default linearizable)'];

interface ActionSpec {
  readonly usage: string;
  readonly summary: string;
  readonly options: readonly string[];
  /** How many positionals the action takes: [min, max]. */
  readonly positionals: readonly [number, number];
}

const SPECS: Record<Action, ActionSpec> = {
  create: {
    usage: 'sessionraft session create CLIENT_ID [--session-id ID] [--transport T] [--data JSON] [--ttl-ms N] [--max-lifetime-ms N]',
    summary: 'create a session for CLIENT_ID; prints it with the id the server chose',
    options: [
      '  --session-id ID    the id to create it under, 1-128 of [A-Za-z0-9_-] (default: the server mints a UUID; exit 16 ALREADY_EXISTS if taken)',
      '  --transport T      (default "cli")',
      '  --data JSON        a JSON object (default {})',
      '  --ttl-ms N         idle TTL, 1000-2592000000 (default: the node\'s, 1 h)',
      '  --max-lifetime-ms N  absolute lifetime cap (default 0: none)',
      ...WRITE_OPTIONS,
    ],
    positionals: [1, 1],
  },
  get: { usage: 'sessionraft session get SESSION_ID', summary: 'print one live session', options: READ_OPTIONS, positionals: [1, 1] },
  update: {
    usage: 'sessionraft session update SESSION_ID [--data JSON] [--expected-version N] [--ttl-ms N]',
    summary: 'merge --data into the session\'s data key by key (a key set to null is removed)',
    options: [
      '  --data JSON        a JSON object to merge (default: no data change)',
      '  --expected-version N  fail (FAILED_PRECONDITION, exit 19) unless the session is at version N',
      '  --ttl-ms N         a new idle TTL (default: keep)',
      ...WRITE_OPTIONS,
    ],
    positionals: [1, 1],
  },
  touch: { usage: 'sessionraft session touch SESSION_ID', summary: 'mark activity: the idle expiry slides', options: WRITE_OPTIONS, positionals: [1, 1] },
  delete: { usage: 'sessionraft session delete SESSION_ID', summary: 'delete one session (NOT_FOUND, exit 15, if there is none)', options: WRITE_OPTIONS, positionals: [1, 1] },
  list: {
    usage: 'sessionraft session list CLIENT_ID [--limit N]',
    summary: 'the live sessions of CLIENT_ID in session id order',
    options: ['  --limit N          print at most N sessions (default: all)', ...READ_OPTIONS],
    positionals: [1, 1],
  },
  count: { usage: 'sessionraft session count [CLIENT_ID]', summary: 'live sessions, of CLIENT_ID or of all clients', options: READ_OPTIONS, positionals: [0, 1] },
  'delete-by-client': {
    usage: 'sessionraft session delete-by-client CLIENT_ID',
    summary: 'delete every session of CLIENT_ID ("log out everywhere"); prints how many',
    options: WRITE_OPTIONS,
    positionals: [1, 1],
  },
  watch: {
    usage: 'sessionraft session watch [--client-id ID] [--from N [--from-position P]] [--limit N]',
    summary: 'print changes to sessions as they happen, one line each, until Ctrl-C (resumes on another node if one fails)',
    options: [
      '  --client-id ID     only the sessions of this client (default: every client)',
      '  --from N           from log index N (e.g. the index a write printed; default: from now); exit 21 OUT_OF_RANGE if no node holds it',
      '  --from-position P  with --from: skip the first P changes of index N (to go on after a printed I.P: --from I --from-position P+1)',
      '  --limit N          exit 0 after N changes (default: never)',
      '  (--json: one JSON object per line; --timeout-ms: to connect, and to reach a node again after one failed)',
    ],
    positionals: [0, 0],
  },
};

export function sessionHelp(args: readonly string[] = []): string {
  const action = args.find((a) => (ACTIONS as readonly string[]).includes(a)) as Action | undefined;
  if (action !== undefined) {
    const spec = SPECS[action];
    return [`Usage: ${spec.usage} [options]`, '', `${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.`, '', 'Options:', ...spec.options, ...COMMON_OPTIONS].join('\n');
  }
  return [
    'Usage: sessionraft session <action> [arguments] [options]',
    '',
    'Actions:',
    ...ACTIONS.map((a) => `  ${a.padEnd(17)} ${SPECS[a].summary}`),
    '',
    'Options of every action:',
    ...COMMON_OPTIONS,
    '',
    'Exit codes: 0 success; 2 usage error; 10 + the gRPC status code when the call fails:',
    '  13 INVALID_ARGUMENT, 14 DEADLINE_EXCEEDED, 15 NOT_FOUND, 19 FAILED_PRECONDITION (version mismatch),',
    '  18 RESOURCE_EXHAUSTED, 24 UNAVAILABLE (no node reachable, no leader); 1 anything else.',
    '',
    "Run 'sessionraft session <action> --help' for an action's options. Example:",
    '  id=$(sessionraft session create alice --data \'{"cart":[]}\' --json | jq -r .session.sessionId)',
    '  sessionraft session get "$id"',
  ].join('\n');
}

function parseData(text: string | undefined): JsonObject | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--data: not valid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`--data: expected a JSON object, got '${text}'`);
  return value as JsonObject;
}

function isoTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '-';
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [format(header), ...rows.map(format)].join('\n');
}

/** Sessions as a table: one row each, data as compact JSON. */
export function formatSessions(sessions: readonly Session[]): string {
  return table(
    ['session', 'client', 'transport', 'version', 'ttl_ms', 'expires', 'data'],
    sessions.map((s) => [s.sessionId, s.clientId, s.transport, String(s.version), String(s.ttlMs), isoTime(s.expiresAtMs), JSON.stringify(s.data)]),
  );
}

interface Parsed {
  readonly action: Action;
  readonly positionals: readonly string[];
  readonly endpoints: string[];
  readonly json: boolean;
  readonly timeoutMs: number;
  /** TLS and token (--tls-dir, --ca/--cert/--key, --client-token-file). */
  readonly connection: ClientConnection;
  readonly values: Record<string, string | boolean | undefined>;
}

function parseSession(args: readonly string[]): Parsed {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      endpoints: { type: 'string' },
      json: { type: 'boolean' },
      'timeout-ms': { type: 'string' },
      ...CLIENT_CONNECTION_FLAGS,
      durability: { type: 'string' },
      consistency: { type: 'string' },
      transport: { type: 'string' },
      data: { type: 'string' },
      'ttl-ms': { type: 'string' },
      'max-lifetime-ms': { type: 'string' },
      'session-id': { type: 'string' },
      'expected-version': { type: 'string' },
      limit: { type: 'string' },
      'client-id': { type: 'string' },
      from: { type: 'string' },
      'from-position': { type: 'string' },
    },
  });
  const [name, ...rest] = positionals;
  if (name === undefined || !(ACTIONS as readonly string[]).includes(name)) {
    throw new UsageError(`session: expected an action (${ACTIONS.join(', ')}), got '${name ?? ''}'`);
  }
  const action = name as Action;
  const [min, max] = SPECS[action].positionals;
  if (rest.length < min || rest.length > max) {
    throw new UsageError(`session ${action}: expected ${SPECS[action].usage.replace(/^sessionraft /, '')}, got ${rest.length} argument(s)`);
  }
  const allowed = new Set(['endpoints', 'json', 'timeout-ms', ...CLIENT_CONNECTION_FLAG_NAMES, ...SPECS[action].options.map((o) => /--([a-z-]+)/.exec(o)![1]!)]);
  for (const flag of Object.keys(values)) {
    if (!allowed.has(flag)) throw new UsageError(`session ${action}: --${flag} does not apply (see 'sessionraft session ${action} --help')`);
  }
  return {
    action,
    positionals: rest,
    endpoints: endpointsFlag(values.endpoints),
    json: values.json === true,
    timeoutMs: integerFlag('timeout-ms', values['timeout-ms'], 1, 3_600_000) ?? 10_000,
    connection: clientConnectionFromFlags(values),
    values,
  };
}

function writeOptions(p: Parsed): WriteCallOptions {
  const durability = choiceFlag<Durability>('durability', p.values.durability as string | undefined, ['sync', 'async']);
  return { deadlineMs: p.timeoutMs, ...(durability ? { durability } : {}) };
}

function readOptions(p: Parsed): ReadCallOptions {
  const consistency = choiceFlag<ReadConsistency>('consistency', p.values.consistency as string | undefined, ['linearizable', 'stale']);
  return { deadlineMs: p.timeoutMs, ...(consistency ? { consistency } : {}) };
}

/** One change as a line: index.position, type, session, client, version, data. */
export function formatEvent(event: SessionEvent): string {
  const s = event.session;
  return [`${event.index}.${event.position}`.padEnd(10), event.type.padEnd(8), s.sessionId, s.clientId, `v${s.version}`, JSON.stringify(s.data)].join('  ');
}

/** `session watch`: checks the flags, then streams until Ctrl-C, --limit, or an error (exit 10 + its status). */
function prepareWatch(p: Parsed): (client: SessionClient) => Promise<void> {
  const string = (name: string): string | undefined => p.values[name] as string | undefined;
  const fromIndex = integerFlag('from', string('from'), 1);
  const fromPosition = integerFlag('from-position', string('from-position'), 0);
  if (fromPosition !== undefined && fromIndex === undefined) throw new UsageError('--from-position needs --from');
  const limit = integerFlag('limit', string('limit'), 1);
  const clientId = string('client-id');
  return (client) => runWatch(p, client, { clientId, fromIndex, fromPosition, limit });
}

async function runWatch(
  p: Parsed,
  client: SessionClient,
  { clientId, fromIndex, fromPosition, limit }: { clientId?: string | undefined; fromIndex?: number | undefined; fromPosition?: number | undefined; limit?: number | undefined },
): Promise<void> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const watch = client.watch({
    ...(clientId !== undefined ? { clientId } : {}),
    ...(fromIndex !== undefined ? { fromIndex, fromPosition: fromPosition ?? 0 } : {}),
    signal: controller.signal,
    reconnectTimeoutMs: p.timeoutMs,
  });
  let printed = 0;
  try {
    for await (const event of watch) {
      process.stdout.write(`${p.json ? JSON.stringify(event) : formatEvent(event)}\n`);
      if (limit !== undefined && ++printed >= limit) break;
    }
  } catch (error) {
    if (!(error instanceof CancelledError && controller.signal.aborted)) throw error;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Everything a command needs from the flags, checked before anything connects. */
function prepare(p: Parsed): (client: SessionClient) => Promise<{ json: unknown; text: string }> {
  const [arg] = p.positionals;
  const string = (name: string): string | undefined => p.values[name] as string | undefined;
  switch (p.action) {
    case 'create': {
      const data = parseData(string('data'));
      const ttlMs = integerFlag('ttl-ms', string('ttl-ms'), TTL_MS_MIN, TTL_MS_MAX);
      const maxLifetimeMs = integerFlag('max-lifetime-ms', string('max-lifetime-ms'), 0);
      const options = writeOptions(p);
      return async (client) => {
        const result = await client.create(
          { ...(string('session-id') !== undefined ? { sessionId: string('session-id')! } : {}), clientId: arg!, transport: string('transport') ?? 'cli', ...(data ? { data } : {}), ...(ttlMs ? { ttlMs } : {}), ...(maxLifetimeMs ? { maxLifetimeMs } : {}) },
          options,
        );
        return { json: result, text: formatSessions([result.session]) };
      };
    }
    case 'get': {
      const options = readOptions(p);
      return async (client) => {
        const result = await client.get(arg!, options);
        return { json: result, text: formatSessions([result.session]) };
      };
    }
    case 'update': {
      const data = parseData(string('data'));
      const expectedVersion = integerFlag('expected-version', string('expected-version'), 1);
      const ttlMs = integerFlag('ttl-ms', string('ttl-ms'), TTL_MS_MIN, TTL_MS_MAX);
      const options = writeOptions(p);
      return async (client) => {
        const result = await client.update(arg!, { ...(data ? { data } : {}), ...(expectedVersion ? { expectedVersion } : {}), ...(ttlMs ? { ttlMs } : {}) }, options);
        return { json: result, text: result.session ? formatSessions([result.session]) : `accepted (${result.durability}) at index ${result.index}` };
      };
    }
    case 'touch': {
      const options = writeOptions(p);
      return async (client) => {
        const result = await client.touch(arg!, options);
        return { json: result, text: result.session ? formatSessions([result.session]) : `accepted (${result.durability}) at index ${result.index}` };
      };
    }
    case 'delete':
    case 'delete-by-client': {
      const options = writeOptions(p);
      return async (client) => {
        const result = p.action === 'delete' ? await client.delete(arg!, options) : await client.deleteByClient(arg!, options);
        return { json: result, text: result.durability === 'async' ? `accepted (async) at index ${result.index}` : `deleted ${result.deleted}` };
      };
    }
    case 'list': {
      const limit = integerFlag('limit', string('limit'), 1);
      const options = readOptions(p);
      return async (client) => {
        const sessions: Session[] = [];
        for await (const session of client.listAll(arg!, { pageSize: Math.min(limit ?? 1000, 1000) }, options)) {
          sessions.push(session);
          if (limit !== undefined && sessions.length >= limit) break;
        }
        return { json: { sessions }, text: sessions.length === 0 ? `no sessions of client '${arg}'` : formatSessions(sessions) };
      };
    }
    case 'count': {
      const options = readOptions(p);
      return async (client) => {
        const result = await client.count(arg ?? '', options);
        return { json: result, text: String(result.count) };
      };
    }
    case 'watch':
      throw new UsageError('watch streams: see runWatch');
  }
}

export async function runSession(args: readonly string[]): Promise<void> {
  const parsed = parseSession(args);
  const streamer = parsed.action === 'watch' ? prepareWatch(parsed) : undefined;
  const command = streamer === undefined ? prepare(parsed) : undefined;
  let client: SessionClient;
  try {
    client = await SessionClient.connect({ ...parsed.connection, endpoints: parsed.endpoints, connectTimeoutMs: Math.min(parsed.timeoutMs, 5_000), deadlineMsDefault: parsed.timeoutMs });
  } catch (error) {
    throw reportable(error, parsed.json);
  }
  try {
    if (streamer !== undefined) {
      await streamer(client);
    } else if (command !== undefined) {
      const { json, text } = await command(client);
      console.log(parsed.json ? JSON.stringify(json) : text);
    }
  } catch (error) {
    throw reportable(error, parsed.json);
  } finally {
    client.close();
  }
}

/** Marks an error for main.ts to print as JSON on stderr when --json was given. */
function reportable(error: unknown, json: boolean): unknown {
  if (json && error instanceof Error) Object.defineProperty(error, 'printAsJson', { value: true });
  return error;
}
