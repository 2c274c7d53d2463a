/**
 * AdminService/Backup through real gRPC (server and SDK): the message order and sizes, the pace
 * of a slow reader, cancellation releasing the copy, errors mapped to status codes, and the
 * client token.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ResourceExhaustedError, SessionClient, SessionRaftError, type BackupMessage } from '../../../src/client/index.js';
import { OverloadedError, type StateCopy, type StateCopySource } from '../../../src/node/index.js';
import type { LogIndex, NodeId } from '../../../src/raft/index.js';
import { createAccessControl } from '../../../src/server/index.js';
import { BACKUP_MESSAGE_BYTES_MAX } from '../../../src/server/backup.js';
import { FakeBackend } from './fake-backend.js';
import { startServer, type TestServer } from './harness.js';

/** A FakeBackend that can give a copy of `pairCount` pairs of `valueBytes` each. */
class CopyingBackend extends FakeBackend implements StateCopySource {
  pulled = 0;
  closed = 0;
  openError: Error | undefined;
  failAfterPairs: number | undefined;

  constructor(
    readonly pairCount: number,
    readonly valueBytes: number,
  ) {
    super();
  }

  async openStateCopy(): Promise<StateCopy> {
    if (this.openError) throw this.openError;
    const backend = this;
    let closed = false;
    const close = async (): Promise<void> => {
      if (!closed) backend.closed++;
      closed = true;
    };
    return {
      header: {
        clusterId: 'cluster-x',
        nodeId: 2 as NodeId,
        index: 77 as LogIndex,
        term: 5,
        members: [{ id: 1, address: 'a:1', voter: true }, { id: 2, address: 'b:2', voter: false }],
        sessionCount: this.pairCount,
        stateDigest: 'ab'.repeat(32),
      },
      async *pairs() {
        try {
          for (let i = 0; i < backend.pairCount && !closed; i++) {
            if (backend.failAfterPairs !== undefined && i === backend.failAfterPairs) throw new Error('the disk went away');
            backend.pulled++;
            yield [`s/${String(i).padStart(8, '0')}`, new Uint8Array(backend.valueBytes).fill(i % 251)] as const;
          }
        } finally {
          await close();
        }
      },
      close,
    };
  }
}

const servers: TestServer[] = [];
const clients: SessionClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) await server.close();
});

async function serve(backend: FakeBackend, serverOptions: grpc.ServerOptions = {}, token?: string): Promise<SessionClient> {
  const server = await startServer(backend, {}, undefined, serverOptions);
  servers.push(server);
  const client = await SessionClient.connect({ endpoints: [server.address], ...(token ? { token } : {}) });
  clients.push(client);
  return client;
}

async function collect(messages: AsyncIterable<BackupMessage>): Promise<BackupMessage[]> {
  const all: BackupMessage[] = [];
  for await (const message of messages) all.push(message);
  return all;
}

describe('AdminService/Backup', () => {
  it('streams a start message, every pair in order in messages of about 1 MiB, and an end with the count', async () => {
    const backend = new CopyingBackend(5_000, 700);
    const client = await serve(backend);
    const messages = await collect(client.backup());
    expect(messages[0]).toEqual({
      type: 'start',
      start: {
        clusterId: 'cluster-x',
        nodeId: 2,
        index: 77,
        term: 5,
        members: [{ id: 1, address: 'a:1', voter: true }, { id: 2, address: 'b:2', voter: false }],
        sessionCount: 5_000,
        stateDigest: 'ab'.repeat(32),
      },
    });
    expect(messages.at(-1)).toEqual({ type: 'end', pairs: 5_000 });
    const batches = messages.slice(1, -1);
    expect(batches.every((m) => m.type === 'pairs')).toBe(true);
    expect(batches.length).toBeGreaterThanOrEqual(3);
    const pairs = batches.flatMap((m) => (m.type === 'pairs' ? [...m.pairs] : []));
    expect(pairs.map(([k]) => k)).toEqual(Array.from({ length: 5_000 }, (_, i) => `s/${String(i).padStart(8, '0')}`));
    expect(pairs.every(([, v], i) => v.length === 700 && v[0] === i % 251 && v[699] === i % 251)).toBe(true);
    for (const batch of batches) {
      const bytes = batch.type === 'pairs' ? batch.pairs.reduce((sum, [k, v]) => sum + k.length + v.length, 0) : 0;
      expect(bytes).toBeLessThanOrEqual(BACKUP_MESSAGE_BYTES_MAX + 800);
    }
    expect(backend.closed).toBe(1);
  });

  it('reads the copy at the pace of the reader, and a reader that stops cancels it', async () => {
    const backend = new CopyingBackend(40_000, 1_000); // 40 MB
    const client = await serve(backend);
    const iterator = client.backup()[Symbol.asyncIterator]();
    let consumed = 0;
    for (let i = 0; i < 3; i++) {
      const next = await iterator.next();
      if (!next.done && next.value.type === 'pairs') consumed += next.value.pairs.length;
    }
    await new Promise((r) => setTimeout(r, 300));
    // HTTP/2 windows and socket buffers hold some megabytes; the node must not read the whole copy ahead.
    expect(backend.pulled - consumed).toBeLessThan(20_000);
    const pulledWhileStalled = backend.pulled;
    await iterator.return?.(undefined);
    for (let i = 0; i < 100 && backend.closed === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(backend.closed).toBe(1);
    expect(backend.pulled).toBeLessThan(pulledWhileStalled + 3_000);
  });

  it('maps failures to status codes: no copy source, a limit, a copy that fails midway', async () => {
    const plain = await serve(new FakeBackend());
    const unimplemented = await collect(plain.backup()).catch((e: unknown) => e);
    expect(unimplemented).toBeInstanceOf(SessionRaftError);
    expect((unimplemented as SessionRaftError).code).toBe(grpc.status.UNIMPLEMENTED);

    const busy = new CopyingBackend(10, 10);
    busy.openError = new OverloadedError('backupsMax', 2);
    const refused = await collect((await serve(busy)).backup()).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ResourceExhaustedError);
    expect((refused as Error).message).toContain('backupsMax (2)');

    const failing = new CopyingBackend(10_000, 500);
    failing.failAfterPairs = 6_000;
    const seen: BackupMessage[] = [];
    const broken = await (async () => {
      for await (const message of (await serve(failing)).backup()) seen.push(message);
    })().catch((e: unknown) => e);
    expect((broken as SessionRaftError).code).toBe(grpc.status.INTERNAL);
    expect(seen[0]?.type).toBe('start');
    expect(seen.some((m) => m.type === 'end')).toBe(false);
    expect(failing.closed).toBe(1);
  });

  it('needs the client token like every call', async () => {
    const token = 'backup-token-0123456789';
    const access = createAccessControl({ clientToken: token });
    const backend = new CopyingBackend(100, 10);
    const anonymous = await serve(backend, { interceptors: [access.interceptor] });
    const refused = await collect(anonymous.backup()).catch((e: unknown) => e);
    expect((refused as SessionRaftError).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(backend.pulled).toBe(0);
    const address = servers.at(-1)!.address;
    const allowed = await SessionClient.connect({ endpoints: [address], token });
    clients.push(allowed);
    expect((await collect(allowed.backup())).at(-1)).toEqual({ type: 'end', pairs: 100 });
  });
});
