/** Seeds 251-500 of the simulation of real nodes (see seed-range.ts; four files run in parallel). */
import { describeSeedRange } from './seed-range.js';

describeSeedRange(251, 250);
