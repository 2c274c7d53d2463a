/**
 * The SessionService and AdminService client constructors, made from session.proto as
 * src/proto/ finds and loads it (the decoding options the server uses too).
 */
import * as grpc from '@grpc/grpc-js';
import { loadProtos, SESSION_PROTO_FILE } from '../proto/index.js';

export type ServiceClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => grpc.Client;

let constructors: { session: ServiceClientConstructor; admin: ServiceClientConstructor } | undefined;

/** SessionService and AdminService client constructors (loaded once). */
export function serviceClients(): { session: ServiceClientConstructor; admin: ServiceClientConstructor } {
  if (constructors === undefined) {
    const v1 = (grpc.loadPackageDefinition(loadProtos([SESSION_PROTO_FILE])).sessionraft as grpc.GrpcObject).v1 as grpc.GrpcObject;
    constructors = {
      session: v1.SessionService as unknown as ServiceClientConstructor,
      admin: v1.AdminService as unknown as ServiceClientConstructor,
    };
  }
  return constructors;
}
