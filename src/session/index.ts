export * from './types.js';
export {
  SessionStateMachine,
  computeExpiresAtMs,
  mergeData,
  sessionKey,
  SESSION_KEY_PREFIX,
  DEDUP_KEY_PREFIX,
  CLOCK_KEY,
  APPLIED_KEY,
  type ApplyEntry,
  type ApplyOutcome,
} from './state-machine.js';
export { encodeBatch, encodeBatchItem, encodeCommand, decodeCommand } from './codec.js';
export { dedupKey, estimateDedupBytes, type DedupRecord, type DedupLimits } from './dedup.js';
export {
  SESSION_STATE_MACHINE_DEFAULTS,
  resolveSessionStateMachineOptions,
  type ResolvedSessionStateMachineOptions,
  type SessionStateMachineOptions,
} from './options.js';
export {
  ValidationError,
  validateCommand,
  validateStampedCommand,
  validateSessionId,
  SESSION_ID_PATTERN,
  validateClientId,
  validateTransport,
  validateData,
  validateTtlMs,
  validateMaxLifetimeMs,
  validateRequestId,
  validateStampMs,
  jsonBytes,
  TTL_MS_MIN,
  TTL_MS_MAX,
  MAX_LIFETIME_MS_MIN,
  MAX_LIFETIME_MS_MAX,
  CLIENT_ID_CHARS_MAX,
  TRANSPORT_CHARS_MAX,
  DATA_DEPTH_MAX,
  EXPIRE_SESSION_IDS_MAX,
  STAMP_MS_MAX,
  type ValidationLimits,
  type ValidateCommandOptions,
} from './validate.js';
