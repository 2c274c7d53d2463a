export * from './errors.js';
export type * from './backend.js';
export { SessionNode, type NodeIo, type NodePlantedBugs } from './node.js';
export { blockPeers, openNodeOnDisk, type NodeOnDisk } from './compose.js';
export { SYSTEM_CLOCK, type Clock, type NodeTransport, type TimerHandle } from './io.js';
export { NODE_DEFAULTS, resolveNodeOptions, type NodeOptions, type NodeOptionsInput } from './options.js';
export { NO_FAULTS, parseFaults, watchFaultFile, type FaultFileWatch, type InjectedFaults } from './fault-file.js';
export { IDENTITY_FILE, hasNodeData, identityPath, readIdentity, writeIdentity, type NodeIdentity } from './identity.js';
export { bootstrapLog } from './membership.js';
export { forceNewCluster, seedFromState, type ForcedCluster } from './recovery.js';
export { BACKUPS_CONCURRENT_MAX, type StateCopy, type StateCopyHeader, type StateCopySource } from './backup-source.js';
export {
  DISK_BUCKETS_SECONDS,
  DurationHistogram,
  NodeStats,
  PROPOSAL_FAILURE_REASONS,
  ROUND_TRIP_BUCKETS_SECONDS,
  SNAPSHOT_BUCKETS_SECONDS,
  proposalFailureReason,
  type ProposalFailureReason,
} from './stats.js';
