/**
 * The client-facing gRPC API: SessionService, AdminService, health and reflection over a
 * SessionBackend. The only place where errors become gRPC status codes.
 */
export type { SessionBackend } from './backend.js';
export {
  ADMIN_SERVICE_NAME,
  MESSAGE_BYTES_MAX_DEFAULT,
  SESSION_SERVICE_NAME,
  createSessionServices,
  grpcServerOptions,
  registerSessionServices,
  type RegisteredSessionServices,
  type SessionServices,
} from './services.js';
export { resolveSessionApiOptions, type HealthMode, type ResolvedSessionApiOptions, type SessionApiOptions } from './options.js';
export { LEADER_ADDRESS_METADATA_KEY, LEADER_ID_METADATA_KEY, OLDEST_INDEX_METADATA_KEY, ApiError } from './errors.js';
export { watchBatchToWire } from './watch.js';
export { sessionToWire, statusToWire } from './mapping.js';
export { REQUEST_METHODS_MAX, createRequestCounter, methodLabel, type RequestCount, type RequestCounter } from './requests.js';
export {
  ACCESS_DEFAULTS,
  AUTHORIZATION_METADATA_KEY,
  PEER_SERVICE_PREFIX,
  checkClientToken,
  createAccessControl,
  type AccessControl,
  type AccessOptions,
} from './access.js';
