export * from './errors.js';
export type * from './backend.js';
