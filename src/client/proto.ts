/**
 * The SessionService and AdminService client constructors, made from session.proto as
 * src/proto/ finds and loads it (the decoding options the server uses too), typed with the
 * generated client interfaces.
 */
import * as grpc from '@grpc/grpc-js';
import { loadProtos, SESSION_PROTO_FILE, type SessionProtoGrpcType } from '../proto/index.js';

type Constructors = Pick<SessionProtoGrpcType['sessionraft']['v1'], 'SessionService' | 'AdminService'>;
let constructors: { session: Constructors['SessionService']; admin: Constructors['AdminService'] } | undefined;

/** SessionService and AdminService client constructors (loaded once). */
export function serviceClients(): { session: Constructors['SessionService']; admin: Constructors['AdminService'] } {
  if (constructors === undefined) {
    // loadPackageDefinition is untyped; proto-loader-gen-types describes what it returns.
    const v1 = (grpc.loadPackageDefinition(loadProtos([SESSION_PROTO_FILE])) as unknown as SessionProtoGrpcType).sessionraft.v1;
    constructors = { session: v1.SessionService, admin: v1.AdminService };
  }
  return constructors;
}
