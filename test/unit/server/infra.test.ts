/** Health checking, reflection, options validation, and garbage on the port. */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterEach, describe, expect, it } from 'vitest';
import { findProtoDir } from '../../../src/proto/index.js';
import { resolveSessionApiOptions } from '../../../src/server/index.js';
import { FakeBackend } from './fake-backend.js';
import { rawSessionClient, startServer, unary, type RawClient, type TestServer } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function serve(backend = new FakeBackend(), options = {}): Promise<TestServer> {
  const server = await startServer(backend, options);
  cleanups.push(() => server.close());
  return server;
}

function clientOf(proto: string, pkg: string[], service: string, address: string): RawClient {
  let object: grpc.GrpcObject = grpc.loadPackageDefinition(protoLoader.loadSync(proto, { keepCase: false, enums: String, defaults: true, oneofs: true }));
  for (const name of pkg) object = object[name] as grpc.GrpcObject;
  const Constructor = object[service] as grpc.ServiceClientConstructor;
  const client = new Constructor(address, grpc.credentials.createInsecure()) as RawClient;
  cleanups.push(() => client.close());
  return client;
}

describe('grpc.health.v1', () => {
  it('is SERVING while the node knows a leader', async () => {
    const server = await serve();
    const health = clientOf(healthProtoPath, ['grpc', 'health', 'v1'], 'Health', server.address);
    for (const service of ['', 'sessionraft.v1.SessionService', 'sessionraft.v1.AdminService']) {
      const { error, response } = await unary(health, 'Check', { service });
      expect(error).toBeNull();
      expect(response.status).toBe('SERVING');
    }
  });

  it('follows leader knowledge in leaderKnown mode, and is SERVING at once in started mode', async () => {
    const backend = new FakeBackend();
    backend.follower = { leaderId: 0, leaderAddress: '' };
    const server = await serve(backend, { healthPollIntervalMs: 20 });
    const health = clientOf(healthProtoPath, ['grpc', 'health', 'v1'], 'Health', server.address);
    expect((await unary(health, 'Check', { service: '' })).response.status).toBe('NOT_SERVING');
    expect((await unary(health, 'Check', { service: 'sessionraft.v1.AdminService' })).response.status).toBe('SERVING');
    backend.follower = { leaderId: 2, leaderAddress: '127.0.0.1:2' };
    await expect.poll(async () => (await unary(health, 'Check', { service: '' })).response.status).toBe('SERVING');

    const leaderless = new FakeBackend();
    leaderless.follower = { leaderId: 0, leaderAddress: '' };
    const started = await serve(leaderless, { healthMode: 'started' });
    const health2 = clientOf(healthProtoPath, ['grpc', 'health', 'v1'], 'Health', started.address);
    expect((await unary(health2, 'Check', { service: '' })).response.status).toBe('SERVING');
  });
});

async function reflect(address: string, requests: unknown[]): Promise<any[]> {
  const require = createRequire(import.meta.url);
  const reflectionProto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  const reflection = clientOf(reflectionProto, ['grpc', 'reflection', 'v1'], 'ServerReflection', address);
  const call = reflection.ServerReflectionInfo() as grpc.ClientDuplexStream<unknown, any>;
  const answers: any[] = [];
  call.on('data', (answer: unknown) => answers.push(answer));
  const done = new Promise<void>((resolve, reject) => {
    call.on('end', resolve);
    call.on('error', reject);
  });
  for (const request of requests) call.write(request);
  call.end();
  await done;
  return answers;
}

const serviceNames = (answer: any): string[] => answer.listServicesResponse.service.map((s: { name: string }) => s.name);

describe('server reflection', () => {
  it('lists the API services (and raft.proto\'s when present) and serves the session.proto descriptor', async () => {
    const server = await serve();
    const answers = await reflect(server.address, [{ listServices: '*' }, { fileContainingSymbol: 'sessionraft.v1.SessionService' }]);
    const expected = ['sessionraft.v1.SessionService', 'sessionraft.v1.AdminService', 'grpc.health.v1.Health'];
    if (existsSync(path.join(findProtoDir(), 'raft.proto'))) expected.push('sessionraft.raft.v1.RaftTransport');
    expect(serviceNames(answers[0]).sort()).toEqual(expected.sort());
    const files: Buffer[] = answers[1].fileDescriptorResponse.fileDescriptorProto;
    expect(files.length).toBeGreaterThan(0);
    expect(Buffer.concat(files).toString('latin1')).toContain('SessionService');
  });

  it('covers exactly the proto files it is given', async () => {
    const server = await serve(new FakeBackend(), { reflectionProtoFiles: ['session.proto'] });
    const [answer] = await reflect(server.address, [{ listServices: '*' }]);
    expect(serviceNames(answer).sort()).toEqual(['grpc.health.v1.Health', 'sessionraft.v1.AdminService', 'sessionraft.v1.SessionService']);
  });
});

describe('robustness', () => {
  it('survives garbage bytes on the port and serves the next call', async () => {
    const server = await serve();
    const client = rawSessionClient(server.address);
    cleanups.push(() => client.close());
    const garbage = [
      randomBytes(8192),
      Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), randomBytes(4096)]),
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    ];
    for (const bytes of garbage) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(server.port, '127.0.0.1', () => socket.write(bytes));
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.setTimeout(500, () => socket.destroy());
      });
    }
    const { error } = await unary(client, 'Count', {});
    expect(error).toBeNull();
  });

  it('options are validated once: nonsense is a RangeError naming the option', () => {
    expect(() => resolveSessionApiOptions({ listPageSizeMax: 0 })).toThrow(/listPageSizeMax/);
    expect(() => resolveSessionApiOptions({ dataBytesMax: 1.5 })).toThrow(RangeError);
    expect(() => resolveSessionApiOptions({ defaultTtlMs: 10 })).toThrow(/defaultTtlMs/);
    expect(() => resolveSessionApiOptions({ healthMode: 'sometimes' as never })).toThrow(/healthMode/);
    expect(Object.isFrozen(resolveSessionApiOptions({}))).toBe(true);
    // room for two of the largest result at least; the default grows with the largest result
    expect(() => resolveSessionApiOptions({ batchUnsentBytesMax: 4 * 1024 * 1024 - 1 })).toThrow(/batchUnsentBytesMax must be at least twice the largest result .*2097152/);
    expect(resolveSessionApiOptions({}).batchUnsentBytesMax).toBe(16 * 1024 * 1024);
    expect(resolveSessionApiOptions({ dataBytesMax: 8 * 1024 * 1024 }).batchUnsentBytesMax).toBe(32 * 1024 * 1024);
  });
});
