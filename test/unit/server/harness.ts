/**
 * A real grpc.Server on 127.0.0.1:0 serving the API over a FakeBackend, and raw clients made
 * from proto/session.proto, for the server and client tests.
 */
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { findProtoDir, loadProtos } from '../../../src/proto/index.js';
import {
  grpcServerOptions,
  registerSessionServices,
  type RegisteredSessionServices,
  type SessionApiOptions,
} from '../../../src/server/index.js';
import { FakeBackend } from './fake-backend.js';

export interface CapturedLogger {
  readonly logger: Logger;
  readonly lines: Array<Record<string, unknown>>;
}

/** A pino logger whose JSON lines are kept in memory. */
export function captureLogger(): CapturedLogger {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, destination), lines };
}

export interface TestServer {
  readonly server: grpc.Server;
  readonly backend: FakeBackend;
  readonly address: string;
  readonly port: number;
  readonly registered: RegisteredSessionServices;
  readonly log: CapturedLogger;
  close(): Promise<void>;
}

export async function startServer(
  backend = new FakeBackend(),
  options: SessionApiOptions = {},
  messageBytesMax?: number,
  serverOptions: grpc.ServerOptions = {},
): Promise<TestServer> {
  const server = new grpc.Server({ ...grpcServerOptions(messageBytesMax), ...serverOptions });
  const log = captureLogger();
  const registered = registerSessionServices(server, backend, { logger: log.logger, ...options });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const address = `127.0.0.1:${port}`;
  return {
    server,
    backend,
    address,
    port,
    registered,
    log,
    close: async () => {
      registered.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
    },
  };
}

/** A server interceptor that counts the messages received per method path. */
export function countingInterceptor(counts: Map<string, number>): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            counts.set(method.path, (counts.get(method.path) ?? 0) + 1);
            nextMessage(message);
          },
        }),
    });
}

type Callback = (error: grpc.ServiceError | null, response: any) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RawClient = grpc.Client & Record<string, any>;

function packageObject(files: string[]): grpc.GrpcObject {
  return grpc.loadPackageDefinition(loadProtos(files, findProtoDir()));
}

export function rawSessionClient(address: string): RawClient {
  const v1 = (packageObject(['session.proto']).sessionraft as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const Constructor = v1.SessionService as grpc.ServiceClientConstructor;
  return new Constructor(address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 16 * 1024 * 1024 }) as RawClient;
}

export function rawAdminClient(address: string): RawClient {
  const v1 = (packageObject(['session.proto']).sessionraft as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const Constructor = v1.AdminService as grpc.ServiceClientConstructor;
  return new Constructor(address, grpc.credentials.createInsecure()) as RawClient;
}

export interface UnaryOutcome {
  readonly error: grpc.ServiceError | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly response: any;
}

/** A unary call that resolves with the error or the response (never rejects). */
export function unary(client: RawClient, method: string, request: unknown, options: grpc.CallOptions = {}): Promise<UnaryOutcome> {
  return new Promise((resolve) => {
    const callback: Callback = (error, response) => resolve({ error, response });
    client[method](request, options, callback);
  });
}
