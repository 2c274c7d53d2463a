/**
 * The deterministic simulation of sessionraft (see README.md). Other folders (bench, chaos)
 * import it through this entry only.
 */
export { runSimulation, Simulation } from './sim.js';
export type { SimConfig, SimResult, SimStats } from './sim.js';
export { runSeeds, formatSummary, replayCommand, describeFailure, describeViolation } from './runner.js';
export type { RunOptions, RunSummary } from './runner.js';
export { BUG_NAMES, PROFILE_NAMES, PROFILE_FOR_BUG, profileNamed } from './profiles.js';
export type { BugName, Profile, ProfileName } from './profiles.js';
export type { InvariantName, Violation } from './invariants.js';
