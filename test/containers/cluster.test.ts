/**
 * The image of deploy/Dockerfile, three containers with host networking on 127.0.0.21-23:
 * a session written through the SDK survives kill -9 of the leader's container.
 *
 * Needs root on a Debian machine that reaches Debian's package mirrors and the npm registry:
 * scripts/docker-up.sh installs docker.io if missing, starts a dockerd without a bridge and
 * builds the local base image (no image registry is needed). A dockerd this file started is
 * stopped again (scripts/docker-down.sh); one that was already running is left alone.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartedTestContainer } from 'testcontainers';
import { connect, type SessionClient } from '../../src/client/index.js';

// Ryuk's image cannot be pulled, so cleanup is ours (afterAll, and leftovers in beforeAll);
// the machine has /.dockerenv, and without the override testcontainers looks for a bridge.
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE = 'localhost';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STATE_DIR = process.env.DOCKER_STATE_DIR ?? '/tmp/sessionraft-docker';
const BASE_IMAGE = process.env.NODE_BASE_IMAGE ?? 'sessionraft/node-base:local';
const IMAGE = 'sessionraft:containers-test';
const LABEL = 'sessionraft.test';
const LABEL_VALUE = 'containers';
const NODES = [1, 2, 3] as const;
const grpcAddress = (id: number): string => `127.0.0.2${id}:7000`;
const httpAddress = (id: number): string => `127.0.0.2${id}:8080`;
const PEERS = NODES.map((id) => `${id}=${grpcAddress(id)}`).join(',');

function run(command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-40).join('\n');
        reject(new Error(`${command} ${args.join(' ')} failed (${error.message.split('\n')[0]}):\n${tail}`));
      } else {
        resolve(`${stdout}${stderr}`);
      }
    });
  });
}

async function removeLabelledContainers(): Promise<void> {
  const ids = (await run('docker', ['ps', '-aq', '--filter', `label=${LABEL}=${LABEL_VALUE}`], 30_000)).split('\n').filter(Boolean);
  if (ids.length > 0) await run('docker', ['rm', '-f', '-v', ...ids], 60_000);
}

describe('the container image: three nodes with host networking', () => {
  let startedDockerd = false;
  const containers = new Map<number, StartedTestContainer>();
  let client: SessionClient | undefined;

  beforeAll(async () => {
    startedDockerd = !existsSync(`${STATE_DIR}/dockerd.pid`);
    await run('bash', ['scripts/docker-up.sh'], 180_000);
    startedDockerd &&= existsSync(`${STATE_DIR}/dockerd.pid`);
    await removeLabelledContainers();
    // The docker CLI, not testcontainers' build: `npm ci` in the build needs host networking.
    await run(
      'docker',
      ['build', '--network', 'host', '-f', 'deploy/Dockerfile', '--build-arg', `NODE_IMAGE=${BASE_IMAGE}`, '-t', IMAGE, '.'],
      300_000,
    );
    await run('docker', ['image', 'prune', '-f'], 60_000); // vfs: superseded layers cost full copies
    const { GenericContainer, Wait } = await import('testcontainers');
    await Promise.all(
      NODES.map(async (id) => {
        const container = await new GenericContainer(IMAGE)
          .withName(`sessionraft-containers-test-n${id}`)
          .withLabels({ [LABEL]: LABEL_VALUE })
          .withNetworkMode('host')
          .withEnvironment({
            SESSIONRAFT_ID: String(id),
            SESSIONRAFT_PEERS: PEERS,
            SESSIONRAFT_HTTP_LISTEN: httpAddress(id),
            SESSIONRAFT_CLUSTER_ID: 'containers-test',
          })
          .withWaitStrategy(Wait.forLogMessage(/"msg":"node started"/))
          .withStartupTimeout(60_000)
          .start();
        containers.set(id, container);
      }),
    );
  }, 420_000);

  afterAll(async () => {
    client?.close();
    await Promise.allSettled([...containers.values()].map((c) => c.stop({ remove: true, removeVolumes: true, timeout: 1_000 })));
    await removeLabelledContainers().catch(() => undefined);
    if (startedDockerd) await run('bash', ['scripts/docker-down.sh'], 120_000);
  }, 180_000);

  it('runs as a non-root user and answers its HEALTHCHECK command', async () => {
    const container = containers.get(1)!;
    const uid = await container.exec(['node', '-e', 'process.stdout.write(String(process.getuid()))']);
    expect(uid.output.trim()).toBe('10001');
    const health = await container.exec(['node', 'deploy/healthcheck.mjs']);
    expect(health.output).toContain('/healthz: 200');
    expect(health.exitCode).toBe(0);
  });

  it('keeps a session written through the SDK when the leader container is killed', async () => {
    client = await connect({ endpoints: NODES.map(grpcAddress), deadlineMsDefault: 20_000, connectTimeoutMs: 20_000 });
    const { session } = await client.create({ clientId: 'containers-test', transport: 'http', data: { cart: [1, 2] } });
    expect((await client.get(session.sessionId)).session.data).toEqual({ cart: [1, 2] });

    const statuses = await Promise.all(NODES.map((id) => client!.status(grpcAddress(id))));
    const leaderId = statuses.find((s) => s.role === 'leader')?.nodeId;
    expect(NODES).toContain(leaderId);
    const { getContainerRuntimeClient } = await import('testcontainers');
    const runtime = await getContainerRuntimeClient();
    await runtime.container.getById(containers.get(leaderId!)!.getId()).kill({ signal: 'SIGKILL' });

    const after = await client.get(session.sessionId, { deadlineMs: 30_000 });
    expect(after.session.data).toEqual({ cart: [1, 2] });
    // a new leader among the two left takes writes
    await client.update(session.sessionId, { data: { cart: [1, 2, 3] } }, { deadlineMs: 30_000 });
    const survivors = NODES.filter((id) => id !== leaderId);
    const newLeader = (await Promise.all(survivors.map((id) => client!.status(grpcAddress(id))))).find((s) => s.role === 'leader');
    expect(survivors).toContain(newLeader?.nodeId);
    expect((await client.get(session.sessionId)).session.data).toEqual({ cart: [1, 2, 3] });
  });
});
