/** Seeds 751-1000 of the simulation of real nodes (see seed-range.ts; four files run in parallel). */
import { describeSeedRange } from './seed-range.js';

describeSeedRange(751, 250);
