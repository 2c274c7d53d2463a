/** Seeds 501-750 of the simulation of real nodes (see seed-range.ts; four files run in parallel). */
import { describeSeedRange } from './seed-range.js';

describeSeedRange(501, 250);
