import { it } from 'vitest';
import { run } from './fuzz-explore.js';
it('debug', () => {
  try { run(Number(process.env.SEED), 4000, process.env.BUG ? { [process.env.BUG]: true } : {}); } catch (e) { console.log((e as Error).stack); }
});
