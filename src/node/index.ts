export * from './errors.js';
export type * from './backend.js';
export { SessionNode } from './node.js';
export { NODE_DEFAULTS, resolveNodeOptions, type NodeOptions, type NodeOptionsInput } from './options.js';
export { NO_FAULTS, parseFaults, watchFaultFile, type FaultFileWatch, type InjectedFaults } from './fault-file.js';
