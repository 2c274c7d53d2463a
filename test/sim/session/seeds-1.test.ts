/** Seeds 1-250 of the simulation of real nodes (see seed-range.ts; four files run in parallel). */
import { describeSeedRange } from './seed-range.js';

describeSeedRange(1, 250);
