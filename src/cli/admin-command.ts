/**
 * `sessionraft admin <action>`: membership changes for operators, through the leader (the SDK
 * follows NOT_LEADER redirects). Exit codes follow the gRPC status (args.ts): NOT_FOUND 15,
 * ALREADY_EXISTS 16, FAILED_PRECONDITION 19, ...; usage errors 2.
 */
import { parseArgs } from 'node:util';
import { SessionClient, type MemberChangeResult, type MemberStatus } from '../client/index.js';
import { UsageError, endpointsFlag, integerFlag } from './args.js';
import { CLIENT_CONNECTION_FLAGS, CLIENT_CONNECTION_HELP, clientConnectionFromFlags } from './client-connection.js';

const ACTIONS = ['members', 'add-node', 'remove-node', 'promote', 'transfer-leader', 'replace-node'] as const;
type Action = (typeof ACTIONS)[number];

const USAGE: Record<Action, { usage: string; summary: string }> = {
  members: { usage: 'sessionraft admin members', summary: 'list the members: id, address, voter or learner, match index (on the leader)' },
  'add-node': {
    usage: 'sessionraft admin add-node ID --address HOST:PORT [--voter]',
    summary: 'add node ID as a learner (--voter: as a voter at once); then start it with --join',
  },
  'remove-node': { usage: 'sessionraft admin remove-node ID', summary: 'remove node ID (the leader too: it steps down once the removal commits)' },
  promote: { usage: 'sessionraft admin promote ID', summary: 'make learner ID a voter (refused while it is not caught up)' },
  'transfer-leader': { usage: 'sessionraft admin transfer-leader ID', summary: 'hand leadership to voter ID' },
  'replace-node': {
    usage: 'sessionraft admin replace-node OLD --id NEW --address HOST:PORT',
    summary: 'replace a dead member: remove OLD, then add NEW as a learner; start NEW with --join',
  },
};

export function adminHelp(args: readonly string[] = []): string {
  const action = args.find((a) => (ACTIONS as readonly string[]).includes(a)) as Action | undefined;
  const common = [
    'Options:',
    '  --endpoints E   host:port,... (default $SESSIONRAFT_ENDPOINTS, else 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003)',
    '  --timeout-ms T  deadline of the command, redirects included (default 10000)',
    '  --json          print the result as JSON',
    ...CLIENT_CONNECTION_HELP,
  ];
  if (action) return [`Usage: ${USAGE[action].usage}`, '', USAGE[action].summary, '', ...common].join('\n');
  return [
    'Usage: sessionraft admin <action> [options]',
    '',
    'Membership changes, one member at a time, through the leader. Node ids are never reused:',
    'a node that lost its disk comes back under a new id (replace-node).',
    '',
    'Actions:',
    ...ACTIONS.map((a) => `  ${USAGE[a].usage.replace('sessionraft admin ', '').padEnd(44)} ${USAGE[a].summary}`),
    '',
    ...common,
    '',
    'Exit codes: 0 ok, 2 usage, 10 + gRPC status otherwise (NOT_FOUND 15, ALREADY_EXISTS 16, FAILED_PRECONDITION 19).',
  ].join('\n');
}

function positiveId(what: string, text: string | undefined): number {
  if (text === undefined) throw new UsageError(`${what} is required`);
  const id = integerFlag(what.replace(/^--/, ''), text, 1);
  return id!;
}

function addressFlag(text: string | undefined): string {
  if (text === undefined) throw new UsageError('--address HOST:PORT is required');
  if (!/^[^\s,]+:\d{1,5}$/.test(text)) throw new UsageError(`--address: expected host:port, got '${text}'`);
  return text;
}

export function formatMembers(members: readonly MemberStatus[]): string {
  const rows = members.map((m) => [String(m.id), m.address, m.voter ? 'voter' : 'learner', String(m.matchIndex)]);
  const header = ['id', 'address', 'role', 'match'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [format(header), ...rows.map(format)].join('\n');
}

export async function runAdmin(args: readonly string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      endpoints: { type: 'string' },
      'timeout-ms': { type: 'string' },
      json: { type: 'boolean' },
      ...CLIENT_CONNECTION_FLAGS,
      address: { type: 'string' },
      id: { type: 'string' },
      voter: { type: 'boolean' },
    },
  });
  const [name, target, ...extra] = positionals;
  if (name === undefined || !(ACTIONS as readonly string[]).includes(name)) {
    throw new UsageError(`admin: expected an action (${ACTIONS.join(', ')}), got '${name ?? ''}'`);
  }
  const action = name as Action;
  if (extra.length > 0 || (action === 'members' && target !== undefined)) throw new UsageError(`admin ${action}: expected ${USAGE[action].usage}`);
  const endpoints = endpointsFlag(values.endpoints);
  const timeoutMs = integerFlag('timeout-ms', values['timeout-ms'], 1, 3_600_000) ?? 10_000;
  const json = values.json === true;
  // Check every argument before connecting.
  const run = prepare(action, target, values);
  const connection = clientConnectionFromFlags(values);
  const client = await SessionClient.connect({ ...connection, endpoints, connectTimeoutMs: Math.min(timeoutMs, 5_000), deadlineMsDefault: timeoutMs });
  try {
    const { result, text } = await run(client, timeoutMs);
    console.log(json ? JSON.stringify(result) : text);
  } catch (error) {
    if (json && error instanceof Error) Object.defineProperty(error, 'printAsJson', { value: true });
    throw error;
  } finally {
    client.close();
  }
}

type Run = (client: SessionClient, timeoutMs: number) => Promise<{ result: unknown; text: string }>;

function prepare(action: Action, target: string | undefined, values: Record<string, string | boolean | undefined>): Run {
  const allowed: Record<Action, string[]> = {
    members: [],
    'add-node': ['address', 'voter'],
    'remove-node': [],
    promote: [],
    'transfer-leader': [],
    'replace-node': ['id', 'address'],
  };
  for (const flag of ['address', 'id', 'voter']) {
    if (values[flag] !== undefined && !allowed[action].includes(flag)) throw new UsageError(`admin ${action}: --${flag} does not apply`);
  }
  const changed = (r: MemberChangeResult, what: string): { result: unknown; text: string } => ({
    result: r,
    text: `${what} (log index ${r.index})\n${formatMembers(r.members)}`,
  });
  switch (action) {
    case 'members':
      return async (client, timeoutMs) => {
        const status = await leaderStatus(client, timeoutMs);
        return { result: status.members, text: formatMembers(status.members) };
      };
    case 'add-node': {
      const id = positiveId('ID', target);
      const address = addressFlag(values.address as string | undefined);
      const learner = values.voter !== true;
      return async (client, timeoutMs) =>
        changed(
          await client.addMember(id, address, { learner }, { deadlineMs: timeoutMs }),
          `added node ${id} at ${address} as a ${learner ? 'learner' : 'voter'}; start it with: sessionraft node --id ${id} --listen ${address} --join <a member> --data-dir <empty dir>`,
        );
    }
    case 'remove-node': {
      const id = positiveId('ID', target);
      return async (client, timeoutMs) => changed(await client.removeMember(id, { deadlineMs: timeoutMs }), `removed node ${id}`);
    }
    case 'promote': {
      const id = positiveId('ID', target);
      return async (client, timeoutMs) => changed(await client.promoteMember(id, { deadlineMs: timeoutMs }), `node ${id} is a voter`);
    }
    case 'transfer-leader': {
      const id = positiveId('ID', target);
      return async (client, timeoutMs) => {
        const result = await client.transferLeadership(id, { deadlineMs: timeoutMs });
        return { result, text: `node ${result.leaderId} leads` };
      };
    }
    case 'replace-node': {
      const oldId = positiveId('OLD', target);
      const newId = positiveId('--id', values.id as string | undefined);
      const address = addressFlag(values.address as string | undefined);
      if (newId === oldId) throw new UsageError('replace-node: the new node needs a new id (a node that lost its disk forgot its votes)');
      return async (client, timeoutMs) => {
        const deadlineAtMs = Date.now() + timeoutMs;
        const left = (): number => Math.max(1, deadlineAtMs - Date.now());
        const status = await leaderStatus(client, left());
        if (status.members.some((m) => m.id === newId)) throw new UsageError(`node ${newId} is already a member; pick an id never used`);
        // Remove first: a dead member must not count toward quorums any longer. The new node
        // joins as a learner, so it counts only once promoted (caught up).
        if (status.members.some((m) => m.id === oldId)) await client.removeMember(oldId, { deadlineMs: left() });
        else console.error(`node ${oldId} is not a member (removed already?); adding node ${newId}`);
        const added = await client.addMember(newId, address, { learner: true }, { deadlineMs: left() });
        return changed(
          added,
          `replaced node ${oldId} by node ${newId} (a learner until caught up); now start it:\n  sessionraft node --id ${newId} --listen ${address} --join <a member> --data-dir <empty dir>`,
        );
      };
    }
  }
}

/** Status from the leader (members with match indexes), found through any endpoint. */
async function leaderStatus(client: SessionClient, timeoutMs: number): Promise<{ clusterId: string; members: MemberStatus[] }> {
  const first = await client.status(undefined, { deadlineMs: timeoutMs });
  if (first.role === 'leader' || first.leaderAddress === '') return first;
  return client.status(first.leaderAddress, { deadlineMs: timeoutMs });
}
