/**
 * The wire: proto/session.proto loaded with the same decoding options as the server (camelCase,
 * 64-bit integers as numbers, enums by name, defaults, oneof names), and the client
 * constructors made from it. The proto folder is found by walking up from this module.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PARENT_DIRS_SEARCHED_MAX = 6;

function findSessionProto(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < PARENT_DIRS_SEARCHED_MAX; i++) {
    const candidate = path.join(dir, 'proto', 'session.proto');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`proto/session.proto not found within ${PARENT_DIRS_SEARCHED_MAX} folders above ${import.meta.url}`);
}

export type ServiceClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => grpc.Client;

let constructors: { session: ServiceClientConstructor; admin: ServiceClientConstructor } | undefined;

/** SessionService and AdminService client constructors (loaded once). */
export function serviceClients(): { session: ServiceClientConstructor; admin: ServiceClientConstructor } {
  if (constructors === undefined) {
    const definition = protoLoader.loadSync(findSessionProto(), {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const v1 = (grpc.loadPackageDefinition(definition).sessionraft as grpc.GrpcObject).v1 as grpc.GrpcObject;
    constructors = {
      session: v1.SessionService as unknown as ServiceClientConstructor,
      admin: v1.AdminService as unknown as ServiceClientConstructor,
    };
  }
  return constructors;
}
