/**
 * Who may talk to a node: real node processes (the built CLI) with
 *   cluster A: TLS for clients, mutual TLS between peers, a client token (--client-token-file);
 *   cluster B: plaintext peers with a shared cluster secret (--cluster-secret-file).
 * Every refused caller gets a clear status and changes nothing (no session, no new term).
 * The CLI's connection flags (--tls-dir, --ca/--cert/--key, --client-token-file) reach cluster A
 * (session, admin, status, backup).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionClient, type ConnectOptions, type NodeStatus } from '../../src/client/index.js';
import {
  METADATA_CLUSTER_ID,
  METADATA_CLUSTER_SECRET,
  METADATA_FROM_NODE,
  METADATA_TO_NODE,
  encodeMessage,
  raftServiceDefinition,
  type RaftFrame,
  type RaftFrameAck,
} from '../../src/transport/index.js';
import type { Message, NodeId } from '../../src/raft/index.js';
import { cliPath, freePorts } from './harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-security-'));
const certs = path.join(dir, 'certs');
const foreign = path.join(dir, 'foreign-certs');
const TOKEN = 'client-token-0123456789abcdef';
const SECRET = 'cluster-secret-0123456789abcdef';
const pem = (base: string, file: string): Buffer => readFileSync(path.join(base, file));

interface Cluster {
  readonly clusterId: string;
  readonly endpoints: string[];
  readonly children: ChildProcess[];
  readonly logs: string[];
}

function startCluster(name: string, ports: number[], flags: (id: number) => string[]): Cluster {
  const endpoints = ports.map((p) => `127.0.0.1:${p}`);
  const peers = endpoints.map((e, i) => `${i + 1}=${e}`).join(',');
  const cluster: Cluster = { clusterId: name, endpoints, children: [], logs: endpoints.map(() => '') };
  for (const [i] of endpoints.entries()) {
    const id = i + 1;
    const child = spawn(
      process.execPath,
      [cliPath, 'node', '--id', String(id), '--peers', peers, '--data-dir', path.join(dir, `${name}-n${id}`), '--cluster-id', name,
        '--log-format', 'json', '--tick-ms', '50', ...flags(id)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const append = (chunk: Buffer): void => void (cluster.logs[i] += chunk.toString());
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    cluster.children.push(child);
  }
  return cluster;
}

async function withClient<T>(options: ConnectOptions, use: (client: SessionClient) => Promise<T>): Promise<T> {
  const client = await SessionClient.connect({ connectTimeoutMs: 2_000, retriesMax: 0, deadlineMsDefault: 3_000, ...options });
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

async function statuses(cluster: Cluster, options: Omit<ConnectOptions, 'endpoints'>): Promise<NodeStatus[]> {
  return Promise.all(cluster.endpoints.map((e) => withClient({ ...options, endpoints: [e] }, (c) => c.status(e))));
}

async function waitForLeader(cluster: Cluster, options: Omit<ConnectOptions, 'endpoints'>): Promise<NodeStatus> {
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const all = await statuses(cluster, options);
      const leader = all.find((s) => s.role === 'leader');
      if (leader && all.every((s) => s.leaderId === leader.nodeId)) return leader;
      last = JSON.stringify(all.map((s) => [s.nodeId, s.role, s.leaderId]));
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`cluster ${cluster.clusterId}: no leader in 20 s (${last})\n${cluster.logs.map((l) => l.slice(-2000)).join('\n---\n')}`);
}

/**
 * Opens a peer stream to `address` claiming to be node `from` and sends a vote request of term
 * 1000 (which a node would obey): resolves with the status the node ended the call with.
 */
function peerCall(
  address: string,
  credentials: grpc.ChannelCredentials,
  metadata: Record<string, string>,
  from: number,
  to: number,
): Promise<grpc.StatusObject> {
  const client = new grpc.Client(address, credentials);
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  const method = raftServiceDefinition().Stream;
  const call = client.makeBidiStreamRequest<RaftFrame, RaftFrameAck>(method.path, method.requestSerialize, method.responseDeserialize, md, {
    deadline: Date.now() + 5_000,
  });
  const vote: Message = { type: 'vote', from: from as NodeId, to: to as NodeId, term: 1000 as Message['term'], logTerm: 999 as Message['term'], index: 10_000 as NonNullable<Message['index']>, transfer: true };
  call.write({ clusterId: metadata[METADATA_CLUSTER_ID] ?? '', from, to, messages: [encodeMessage(vote, 1 << 20)] });
  return new Promise((resolve) => {
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => {
      client.close();
      resolve(status);
    });
  });
}

let tlsCluster: Cluster;
let secretCluster: Cluster;
/** Connect options of a legitimate client of each cluster (A's certificates exist once beforeAll made them). */
let tlsClient: Omit<ConnectOptions, 'endpoints'> = {};
const secretClient = {};

beforeAll(async () => {
  execFileSync('bash', [path.resolve('scripts/make-certs.sh'), certs, '3'], { stdio: 'ignore' });
  execFileSync('bash', [path.resolve('scripts/make-certs.sh'), foreign, '3'], { stdio: 'ignore' });
  tlsClient = { tls: { ca: pem(certs, 'ca.crt'), cert: pem(certs, 'client.crt'), key: pem(certs, 'client.key') }, token: TOKEN };
  writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`);
  writeFileSync(path.join(dir, 'secret'), `${SECRET}\n`);
  const ports = await freePorts(6);
  tlsCluster = startCluster('sec-tls', ports.slice(0, 3), (id) => [
    '--tls-cert', path.join(certs, `node-${id}.crt`),
    '--tls-key', path.join(certs, `node-${id}.key`),
    '--tls-ca', path.join(certs, 'ca.crt'),
    '--client-token-file', path.join(dir, 'token'),
  ]);
  secretCluster = startCluster('sec-secret', ports.slice(3), () => ['--cluster-secret-file', path.join(dir, 'secret')]);
  await Promise.all([waitForLeader(tlsCluster, tlsClient), waitForLeader(secretCluster, secretClient)]);
}, 60_000);

afterAll(() => {
  for (const child of [...(tlsCluster?.children ?? []), ...(secretCluster?.children ?? [])]) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function sessionCount(cluster: Cluster, options: Omit<ConnectOptions, 'endpoints'>): Promise<number> {
  return withClient({ ...options, endpoints: cluster.endpoints }, async (c) => (await c.count()).count);
}

describe('TLS, mutual TLS between peers and the client token (cluster A)', () => {
  it('serves a client with the CA and the token, and its peers elected a leader over mutual TLS', async () => {
    const before = await sessionCount(tlsCluster, tlsClient);
    await withClient({ ...tlsClient, endpoints: tlsCluster.endpoints, retriesMax: 5 }, (c) => c.create({ clientId: 'good', transport: 'http' }));
    expect(await sessionCount(tlsCluster, tlsClient)).toBe(before + 1);
  });

  it('refuses calls and streams without the token or with a wrong one: UNAUTHENTICATED, nothing written', async () => {
    const before = await sessionCount(tlsCluster, tlsClient);
    const tls = { ca: pem(certs, 'ca.crt') };
    for (const [mode, token] of [['stream', undefined], ['unary', undefined], ['stream', 'wrong-token-0123456789'], ['unary', 'wrong-token-0123456789']] as const) {
      const attempt = withClient({ tls, endpoints: tlsCluster.endpoints, mode, ...(token ? { token } : {}) }, (c) =>
        c.create({ clientId: 'intruder', transport: 'http' }),
      );
      await expect(attempt, `${mode} ${token ?? 'no token'}`).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    }
    await expect(withClient({ tls, endpoints: [tlsCluster.endpoints[0]!] }, (c) => c.status(tlsCluster.endpoints[0]!))).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      message: expect.stringContaining('client token'),
    });
    expect(await sessionCount(tlsCluster, tlsClient)).toBe(before);
  });

  it('refuses a plaintext client on the TLS port, and a client that does not trust the cluster CA', async () => {
    const before = await sessionCount(tlsCluster, tlsClient);
    await expect(
      withClient({ endpoints: tlsCluster.endpoints, token: TOKEN, connectTimeoutMs: 1_000 }, (c) => c.create({ clientId: 'plain', transport: 'http' })),
    ).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await expect(
      withClient({ endpoints: tlsCluster.endpoints, token: TOKEN, tls: { ca: pem(foreign, 'ca.crt') }, connectTimeoutMs: 1_000 }, (c) =>
        c.create({ clientId: 'plain', transport: 'http' }),
      ),
    ).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(await sessionCount(tlsCluster, tlsClient)).toBe(before);
  });

  it('refuses peer calls with a foreign certificate, none, or one that does not name the claimed node', async () => {
    const target = tlsCluster.endpoints[0]!;
    const before = await statuses(tlsCluster, tlsClient);
    const metadata = { [METADATA_CLUSTER_ID]: 'sec-tls', [METADATA_FROM_NODE]: '2', [METADATA_TO_NODE]: '1' };
    const ca = pem(certs, 'ca.crt');
    const foreignNode = grpc.credentials.createSsl(ca, pem(foreign, 'node-2.key'), pem(foreign, 'node-2.crt'));
    const noCertificate = grpc.credentials.createSsl(ca);
    const clientCertificate = grpc.credentials.createSsl(ca, pem(certs, 'client.key'), pem(certs, 'client.crt'));
    const otherNode = grpc.credentials.createSsl(ca, pem(certs, 'node-3.key'), pem(certs, 'node-3.crt'));

    const refusals = await Promise.all([
      peerCall(target, foreignNode, metadata, 2, 1),
      peerCall(target, noCertificate, metadata, 2, 1),
      peerCall(target, clientCertificate, metadata, 2, 1),
      peerCall(target, otherNode, metadata, 2, 1), // node 3's certificate claiming to be node 2
    ]);
    expect(refusals.map((s) => grpc.status[s.code])).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'PERMISSION_DENIED']);
    expect(refusals[0]!.details).toContain('client certificate signed by the cluster CA');
    expect(refusals[3]!.details).toContain("does not name node 2 (expected CN 'node-2')");
    // the vote of term 1000 they carried was never read
    const after = await statuses(tlsCluster, tlsClient);
    expect(after.map((s) => s.term)).toEqual(before.map((s) => s.term));
  });
});

/** The built CLI in a child process; resolves with its exit code and both outputs. */
function cli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { timeout: 30_000, env: { ...process.env, SESSIONRAFT_ENDPOINTS: '' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

describe('the CLI connection flags against cluster A (TLS and a client token)', () => {
  const endpoints = (): string[] => ['--endpoints', tlsCluster.endpoints.join(',')];
  const token = (): string[] => ['--client-token-file', path.join(dir, 'token')];
  const tlsDir = (): string[] => ['--tls-dir', certs];

  it('session create and get succeed with --tls-dir and --client-token-file', async () => {
    const created = await cli(['session', 'create', 'cli-tls', '--data', '{"via":"cli"}', '--json', ...endpoints(), ...tlsDir(), ...token()]);
    expect(created.code, created.stderr).toBe(0);
    const { session } = JSON.parse(created.stdout) as { session: { sessionId: string } };
    const read = await cli(['session', 'get', session.sessionId, '--json', ...endpoints(), ...tlsDir(), ...token()]);
    expect(read.code, read.stderr).toBe(0);
    expect(JSON.parse(read.stdout)).toMatchObject({ session: { sessionId: session.sessionId, clientId: 'cli-tls', data: { via: 'cli' } } });
  });

  it('admin members and status succeed with explicit --ca/--cert/--key, and with --ca alone (server-only TLS)', async () => {
    const files = ['--ca', path.join(certs, 'ca.crt'), '--cert', path.join(certs, 'client.crt'), '--key', path.join(certs, 'client.key')];
    const members = await cli(['admin', 'members', '--json', ...endpoints(), ...files, ...token()]);
    expect(members.code, members.stderr).toBe(0);
    expect((JSON.parse(members.stdout) as { id: number; voter: boolean }[]).map((m) => [m.id, m.voter])).toEqual([[1, true], [2, true], [3, true]]);
    const caOnly = await cli(['admin', 'members', ...endpoints(), '--ca', path.join(certs, 'ca.crt'), ...token()]);
    expect(caOnly.code, caOnly.stderr).toBe(0);
    expect(caOnly.stdout).toMatch(/^id\s+address\s+role/);
    const status = await cli(['status', ...endpoints(), ...tlsDir(), ...token()]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout.match(/leader|follower/g)?.length).toBeGreaterThanOrEqual(3);
  });

  it('without the token: UNAUTHENTICATED (exit 26) naming the token; without TLS: UNAVAILABLE (exit 24); nothing written', async () => {
    const before = await sessionCount(tlsCluster, tlsClient);
    const [sessionNoToken, getNoToken, adminNoToken, sessionNoTls, getNoTls, adminNoTls] = await Promise.all([
      cli(['session', 'create', 'cli-intruder', '--timeout-ms', '3000', ...endpoints(), ...tlsDir()]),
      cli(['session', 'get', 'no-such-session', '--timeout-ms', '3000', ...endpoints(), ...tlsDir()]),
      cli(['admin', 'members', '--timeout-ms', '3000', ...endpoints(), ...tlsDir()]),
      cli(['session', 'create', 'cli-intruder', '--timeout-ms', '2000', ...endpoints(), ...token()]),
      cli(['session', 'get', 'no-such-session', '--timeout-ms', '2000', ...endpoints(), ...token()]),
      cli(['admin', 'members', '--timeout-ms', '2000', ...endpoints(), ...token()]),
    ]);
    const runs = { sessionNoToken, getNoToken, adminNoToken, sessionNoTls, getNoTls, adminNoTls };
    for (const name of ['sessionNoToken', 'getNoToken', 'adminNoToken'] as const) {
      expect(runs[name].code, `${name}: ${runs[name].stderr}`).toBe(10 + grpc.status.UNAUTHENTICATED);
      expect(runs[name].stderr, name).toMatch(/UNAUTHENTICATED: .*client token/);
    }
    for (const name of ['sessionNoTls', 'getNoTls', 'adminNoTls'] as const) {
      expect(runs[name].code, `${name}: ${runs[name].stderr}`).toBe(10 + grpc.status.UNAVAILABLE);
      expect(runs[name].stderr, name).toMatch(/UNAVAILABLE/);
    }
    expect(await sessionCount(tlsCluster, tlsClient)).toBe(before);
  });

  it('backup take reaches it with the same flags (its --client-token-file works as before), and the copy verifies', async () => {
    const keyFile = path.join(dir, 'backup.key');
    const out = path.join(dir, 'tls.backup');
    expect((await cli(['backup', 'keygen', '--out', keyFile])).code).toBe(0);
    const taken = await cli(['backup', '--out', out, '--key-file', keyFile, '--json', ...endpoints(), ...tlsDir(), ...token()]);
    expect(taken.code, taken.stderr).toBe(0);
    expect(JSON.parse(taken.stdout)).toMatchObject({ file: out, header: { clusterId: 'sec-tls' } });
    const verified = await cli(['backup', 'verify', out, '--key-file', keyFile, '--json']);
    expect(verified.code, verified.stderr).toBe(0);
  });

  it('exits 2 with the reason on bad flags, before connecting', async () => {
    const noCa = await cli(['session', 'get', 'x', ...endpoints(), '--tls-dir', path.join(dir, 'no-such-dir'), ...token()]);
    expect(noCa.code).toBe(2);
    expect(noCa.stderr).toContain('no ca.crt in it');
    const certWithoutKey = await cli(['admin', 'members', ...endpoints(), '--ca', path.join(certs, 'ca.crt'), '--cert', path.join(certs, 'client.crt')]);
    expect(certWithoutKey.code).toBe(2);
    expect(certWithoutKey.stderr).toContain('--cert needs --key');
  });
});

describe('the cluster secret between plaintext peers (cluster B)', () => {
  it('refuses a peer call without the secret or with a wrong one: UNAUTHENTICATED, nothing read', async () => {
    const target = secretCluster.endpoints[0]!;
    const before = await statuses(secretCluster, secretClient);
    const metadata = { [METADATA_CLUSTER_ID]: 'sec-secret', [METADATA_FROM_NODE]: '2', [METADATA_TO_NODE]: '1' };
    const insecure = grpc.credentials.createInsecure();
    const refusals = await Promise.all([
      peerCall(target, insecure, metadata, 2, 1),
      peerCall(target, insecure, { ...metadata, [METADATA_CLUSTER_SECRET]: 'not-the-secret-0123456789' }, 2, 1),
    ]);
    for (const status of refusals) {
      expect(grpc.status[status.code]).toBe('UNAUTHENTICATED');
      expect(status.details).toContain("without this cluster's secret");
    }
    const after = await statuses(secretCluster, secretClient);
    expect(after.map((s) => s.term)).toEqual(before.map((s) => s.term));
  });

  it('refuses a peer of another cluster id even with the secret: FAILED_PRECONDITION', async () => {
    const target = secretCluster.endpoints[0]!;
    const before = await statuses(secretCluster, secretClient);
    const status = await peerCall(
      target,
      grpc.credentials.createInsecure(),
      { [METADATA_CLUSTER_ID]: 'another-cluster', [METADATA_FROM_NODE]: '2', [METADATA_TO_NODE]: '1', [METADATA_CLUSTER_SECRET]: SECRET },
      2,
      1,
    );
    expect(grpc.status[status.code]).toBe('FAILED_PRECONDITION');
    expect(status.details).toContain('cluster id mismatch');
    const after = await statuses(secretCluster, secretClient);
    expect(after.map((s) => s.term)).toEqual(before.map((s) => s.term));
  });
});
