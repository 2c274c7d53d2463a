export * from './errors.js';
export type * from './backend.js';
export { SessionNode, type NodeIo, type NodePlantedBugs } from './node.js';
export { blockPeers, openNodeOnDisk, type NodeOnDisk } from './compose.js';
export { SYSTEM_CLOCK, type Clock, type NodeTransport, type TimerHandle } from './io.js';
export { NODE_DEFAULTS, resolveNodeOptions, type NodeOptions, type NodeOptionsInput } from './options.js';
export { NO_FAULTS, parseFaults, watchFaultFile, type FaultFileWatch, type InjectedFaults } from './fault-file.js';
export { BACKUPS_CONCURRENT_MAX, type StateCopy, type StateCopyHeader, type StateCopySource } from './backup-source.js';
