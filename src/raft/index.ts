export * from './types.js';
export * from './api.js';
export {
  RaftCore,
  OUTBOX_MESSAGES_MAX,
  COMMITTED_ENTRIES_PER_READY_MAX,
  SNAPSHOT_WAIT_ELECTION_TIMEOUTS_MAX,
} from './core.js';
export { RaftInvariantError } from './assert.js';
export { encodeConfChange, decodeConfChange, applyConfChange, confChangeProblem } from './confchange.js';
export { RAFT_DEFAULTS } from './options.js';
export { contextKey } from './readonly.js';
