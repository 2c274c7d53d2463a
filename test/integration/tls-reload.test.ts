/**
 * TLS certificates replaced while nodes run: a CA rotation of real node processes. Two CAs, A and
 * B (scripts/make-certs.sh twice). Three nodes start with A's certificates and the bundle A+B as
 * their CA. Node 1 polls its files (--tls-reload-ms 200): files with another node's certificate
 * are refused and it keeps serving; B's node-1 certificate is taken without a restart, after which
 * a client that trusts only B reaches it and one that trusts only A does not. Then node 3 is
 * stopped and node 2 restarted with B's certificate and B alone as its CA: nodes 1 and 2 can only
 * form a quorum if node 1 also dials its peers with the new certificate.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionClient, type ConnectOptions, type NodeStatus } from '../../src/client/index.js';
import { cliPath, freePorts } from './harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sessionraft-tls-reload-'));
const certsA = path.join(dir, 'a');
const certsB = path.join(dir, 'b');
const bundle = path.join(dir, 'ca-a-and-b.crt');
const pem = (base: string, file: string): Buffer => readFileSync(path.join(base, file));
const RELOADED = 'TLS certificate reloaded';
const REFUSED = 'TLS files refused: keeping the current certificate';

let endpoints: string[] = [];
const nodes = new Map<number, { child: ChildProcess; log: string }>();
const started: ChildProcess[] = [];

/** The files node `id` runs with: its own copies, so the test can replace them under it. */
const nodeFile = (id: number, kind: 'crt' | 'key' | 'ca'): string => path.join(dir, `n${id}.${kind}`);

function startNode(id: number, extra: string[] = []): void {
  const peers = endpoints.map((e, i) => `${i + 1}=${e}`).join(',');
  const child = spawn(
    process.execPath,
    [cliPath, 'node', '--id', String(id), '--peers', peers, '--data-dir', path.join(dir, `n${id}`), '--cluster-id', 'tls-reload',
      '--log-format', 'json', '--tick-ms', '50',
      '--tls-cert', nodeFile(id, 'crt'), '--tls-key', nodeFile(id, 'key'), '--tls-ca', nodeFile(id, 'ca'), ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const node = { child, log: '' };
  const append = (chunk: Buffer): void => void (node.log += chunk.toString());
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  nodes.set(id, node);
  started.push(child);
}

async function stopNode(id: number): Promise<void> {
  const node = nodes.get(id)!;
  const exited = new Promise((resolve) => node.child.once('exit', resolve));
  node.child.kill('SIGKILL');
  await exited;
}

/** Installs `certs`'s node-`id` certificate and key as node `id`'s files (each replaced atomically). */
function installIdentity(id: number, certs: string, asId = id): void {
  for (const [kind, file] of [['key', `node-${asId}.key`], ['crt', `node-${asId}.crt`]] as const) {
    copyFileSync(path.join(certs, file), `${nodeFile(id, kind)}.tmp`);
    renameSync(`${nodeFile(id, kind)}.tmp`, nodeFile(id, kind));
  }
}

/** A client that trusts the given CA file(s) and shows the client certificate of `certs`. */
function clientTrusting(ca: Buffer, certs: string): Omit<ConnectOptions, 'endpoints'> {
  return { tls: { ca, cert: pem(certs, 'client.crt'), key: pem(certs, 'client.key') }, connectTimeoutMs: 2_000, retriesMax: 0, deadlineMsDefault: 3_000 };
}

async function status(endpoint: string, options: Omit<ConnectOptions, 'endpoints'>): Promise<NodeStatus> {
  const client = await SessionClient.connect({ ...options, endpoints: [endpoint] });
  try {
    return await client.status(endpoint);
  } finally {
    client.close();
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} not within ${timeoutMs} ms (${last})\n${[...nodes].map(([id, n]) => `--- n${id}\n${n.log.slice(-1500)}`).join('\n')}`);
}

const logLines = (id: number): Record<string, unknown>[] =>
  nodes.get(id)!.log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  execFileSync('bash', [path.resolve('scripts/make-certs.sh'), certsA, '3'], { stdio: 'ignore' });
  execFileSync('bash', [path.resolve('scripts/make-certs.sh'), certsB, '3'], { stdio: 'ignore' });
  writeFileSync(bundle, Buffer.concat([pem(certsA, 'ca.crt'), pem(certsB, 'ca.crt')]));
  endpoints = (await freePorts(3)).map((p) => `127.0.0.1:${p}`);
  for (const id of [1, 2, 3]) {
    installIdentity(id, certsA);
    copyFileSync(bundle, nodeFile(id, 'ca'));
    startNode(id, id === 1 ? ['--tls-reload-ms', '200'] : []);
  }
  const trustsBoth = clientTrusting(readFileSync(bundle), certsA);
  await until('a leader all three follow', async () => {
    const all = await Promise.all(endpoints.map((e) => status(e, trustsBoth)));
    const leader = all.find((s) => s.role === 'leader');
    return leader && all.every((s) => s.leaderId === leader.nodeId) ? leader : undefined;
  });
}, 60_000);

afterAll(() => {
  for (const child of started) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS files replaced while the nodes run', () => {
  it('refuses files that fail the checks and keeps serving with what it has', async () => {
    installIdentity(1, certsB, 2); // node 2's certificate: the wrong CN for node 1
    // (a poll between the two renames may first see the new key with the old certificate, and
    // refuse that pair as well)
    const wrongName = /its subject CN is 'node-2', but peers accept node 1 only as 'node-1'/;
    const refusals = (): Record<string, unknown>[] => logLines(1).filter((l) => l.msg === REFUSED && wrongName.test(String(l.why)));
    await until('the refusal', async () => refusals()[0]);
    await new Promise((r) => setTimeout(r, 600)); // three more polls of the same files: logged once
    expect(refusals()).toHaveLength(1);
    expect(logLines(1).some((l) => l.msg === RELOADED)).toBe(false);
    await expect(status(endpoints[0]!, clientTrusting(pem(certsA, 'ca.crt'), certsA))).resolves.toMatchObject({ nodeId: 1 });
  });

  it("takes a new certificate without a restart: new connections get it, for clients and for peers", async () => {
    const trustsOnlyB = clientTrusting(pem(certsB, 'ca.crt'), certsB);
    await expect(status(endpoints[0]!, trustsOnlyB)).rejects.toThrow(); // node 1 still shows A's certificate
    installIdentity(1, certsB);
    await until('the reload', async () => logLines(1).find((l) => l.msg === RELOADED));
    await expect(status(endpoints[0]!, trustsOnlyB)).resolves.toMatchObject({ nodeId: 1 });
    await expect(status(endpoints[0]!, clientTrusting(pem(certsA, 'ca.crt'), certsA))).rejects.toThrow();

    // Node 2 now trusts B alone and shows B's certificate; node 3 is gone. A quorum needs nodes
    // 1 and 2 to reach each other: node 1 dials with its new certificate, and shows it to node 2.
    await stopNode(3);
    await stopNode(2);
    installIdentity(2, certsB);
    copyFileSync(path.join(certsB, 'ca.crt'), nodeFile(2, 'ca'));
    startNode(2);
    const trustsBoth = clientTrusting(readFileSync(bundle), certsB);
    const client = await SessionClient.connect({ ...trustsBoth, endpoints: endpoints.slice(0, 2), retriesMax: 10, deadlineMsDefault: 10_000 });
    try {
      const written = await until('a write through nodes 1 and 2', () => client.create({ clientId: 'after-rotation', transport: 'http' }));
      const applied = await until('node 2 applying it', async () => {
        const s = await status(endpoints[1]!, trustsOnlyB);
        return s.appliedIndex >= written.index ? s : undefined;
      });
      expect(applied.nodeId).toBe(2);
    } finally {
      client.close();
    }
  });
});
