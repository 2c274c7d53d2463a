export * from '../../../src/session/index.js';
export type { StateOp } from '../../../src/storage/index.js';
