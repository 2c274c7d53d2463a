import { it } from 'vitest';
import * as F from './fuzz-explore.js';
it('explore', () => { F.explore(); }, 600_000);
