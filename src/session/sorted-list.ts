/**
 * A sorted set as a list of sorted chunks (the layout of Python's sortedcontainers): add and
 * delete cost a binary search plus a splice of at most `chunkMax` elements, so a million
 * entries stay cheap to update, to scan in order from any position, and to count a prefix of.
 * Used for the per-client index and the expiry index's distinct times.
 */
export type Comparator<T> = (a: T, b: T) => number;

/** @default chunk size bound; a chunk is split in two when it grows beyond it. */
export const SORTED_LIST_CHUNK_MAX = 1_024;

export class SortedList<T> {
  readonly #compare: Comparator<T>;
  readonly #chunkMax: number;
  /** Every chunk is non-empty and sorted; the last of chunk i < the first of chunk i+1. */
  #chunks: T[][] = [];
  #size = 0;

  constructor(compare: Comparator<T>, chunkMax = SORTED_LIST_CHUNK_MAX) {
    if (!Number.isInteger(chunkMax) || chunkMax < 4) throw new RangeError(`chunkMax must be an integer ≥ 4, got ${chunkMax}`);
    this.#compare = compare;
    this.#chunkMax = chunkMax;
  }

  /** Builds a list from values already sorted strictly ascending (checked). */
  static fromSorted<T>(sorted: readonly T[], compare: Comparator<T>, chunkMax = SORTED_LIST_CHUNK_MAX): SortedList<T> {
    const list = new SortedList(compare, chunkMax);
    for (let i = 1; i < sorted.length; i++) {
      if (compare(sorted[i - 1] as T, sorted[i] as T) >= 0) {
        throw new Error(`SortedList.fromSorted: values at ${i - 1} and ${i} are not strictly ascending`);
      }
    }
    const half = chunkMax >> 1;
    for (let i = 0; i < sorted.length; i += half) list.#chunks.push(sorted.slice(i, i + half));
    list.#size = sorted.length;
    return list;
  }

  get size(): number {
    return this.#size;
  }

  /** Index of the first chunk whose last element is ≥ value (or > value when `strict`). */
  #chunkIndex(value: T, strict: boolean): number {
    let lo = 0;
    let hi = this.#chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.#chunks[mid] as T[];
      const c = this.#compare(chunk[chunk.length - 1] as T, value);
      if (c < 0 || (strict && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First position in `chunk` whose element is ≥ value (or > value when `strict`). */
  #position(chunk: readonly T[], value: T, strict: boolean): number {
    let lo = 0;
    let hi = chunk.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.#compare(chunk[mid] as T, value);
      if (c < 0 || (strict && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds `value`; false if an equal value is already present. */
  add(value: T): boolean {
    if (this.#chunks.length === 0) {
      this.#chunks.push([value]);
      this.#size = 1;
      return true;
    }
    const ci = Math.min(this.#chunkIndex(value, false), this.#chunks.length - 1);
    const chunk = this.#chunks[ci] as T[];
    const pos = this.#position(chunk, value, false);
    if (pos < chunk.length && this.#compare(chunk[pos] as T, value) === 0) return false;
    chunk.splice(pos, 0, value);
    this.#size++;
    if (chunk.length > this.#chunkMax) this.#chunks.splice(ci + 1, 0, chunk.splice(chunk.length >> 1));
    return true;
  }

  /** Removes the value equal to `value`; false if none. */
  delete(value: T): boolean {
    const ci = this.#chunkIndex(value, false);
    const chunk = this.#chunks[ci];
    if (chunk === undefined) return false;
    const pos = this.#position(chunk, value, false);
    if (pos >= chunk.length || this.#compare(chunk[pos] as T, value) !== 0) return false;
    chunk.splice(pos, 1);
    this.#size--;
    if (chunk.length === 0) {
      this.#chunks.splice(ci, 1);
      return true;
    }
    // Keep chunks from going tiny after many deletes: merge with the next when both fit in half a chunk.
    const next = this.#chunks[ci + 1];
    if (next !== undefined && chunk.length + next.length <= this.#chunkMax >> 1) {
      this.#chunks[ci] = chunk.concat(next);
      this.#chunks.splice(ci + 1, 1);
    }
    return true;
  }

  has(value: T): boolean {
    const chunk = this.#chunks[this.#chunkIndex(value, false)];
    if (chunk === undefined) return false;
    const pos = this.#position(chunk, value, false);
    return pos < chunk.length && this.#compare(chunk[pos] as T, value) === 0;
  }

  first(): T | undefined {
    return this.#chunks[0]?.[0];
  }

  /** All values in order. The list must not be changed while the iterator is in use. */
  *values(): Generator<T, void, undefined> {
    for (const chunk of this.#chunks) yield* chunk;
  }

  /** Values strictly greater than `after`, in order. Same caveat as values(). */
  *valuesAfter(after: T): Generator<T, void, undefined> {
    let ci = this.#chunkIndex(after, true);
    const first = this.#chunks[ci];
    if (first === undefined) return;
    for (let i = this.#position(first, after, true); i < first.length; i++) yield first[i] as T;
    for (ci++; ci < this.#chunks.length; ci++) yield* this.#chunks[ci] as T[];
  }

  /** Checks the structural invariants (tests and debugging); throws with the numbers on a break. */
  checkInvariants(): void {
    let total = 0;
    let previous: T | undefined;
    for (const [ci, chunk] of this.#chunks.entries()) {
      if (chunk.length === 0 || chunk.length > this.#chunkMax) {
        throw new Error(`SortedList: chunk ${ci} has ${chunk.length} values (allowed 1..${this.#chunkMax})`);
      }
      for (const value of chunk) {
        if (previous !== undefined && this.#compare(previous, value) >= 0) {
          throw new Error(`SortedList: values out of order in chunk ${ci}`);
        }
        previous = value;
      }
      total += chunk.length;
    }
    if (total !== this.#size) throw new Error(`SortedList: size ${this.#size} but chunks hold ${total}`);
  }
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
