/**
 * The two data structures behind the search's memo: the set of operations linearized so far
 * (a bitset with an incremental hash) and the cache of (linearized set, model state) pairs
 * already explored (Porcupine's `cache`, laid out in one growing typed-array arena so that
 * millions of entries cost words, not objects).
 */

const BITS_PER_WORD = 32;

/** Deterministic 32-bit generator (mulberry32) for the Zobrist tables: no Math.random here. */
function zobristTable(length: number, seed: number): Int32Array {
  const table = new Int32Array(length);
  let a = seed | 0;
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    table[i] = t ^ (t >>> 14);
  }
  return table;
}

/**
 * A fixed-size set of operation ids 0..size-1. Its hash is the XOR of a random word per member
 * (Zobrist hashing), so set() and clear() update it in O(1) instead of rehashing every word.
 * Members listed in `unhashed` do not enter the hash (see LinearizedCache: optional operations).
 */
export class Bitset {
  readonly words: Uint32Array;
  private readonly zobrist: Int32Array;
  private hashValue = 0;

  constructor(
    readonly size: number,
    unhashed: (bit: number) => boolean = () => false,
  ) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`bitset size must be an integer >= 0, got ${size}`);
    this.words = new Uint32Array(Math.max(1, Math.ceil(size / BITS_PER_WORD)));
    this.zobrist = zobristTable(size, 0x5eed1234);
    for (let bit = 0; bit < size; bit++) if (unhashed(bit)) this.zobrist[bit] = 0;
  }

  /** A 30-bit hash: a small integer, so V8 keeps Map keys unboxed. */
  get hash(): number {
    return this.hashValue & 0x3fffffff;
  }

  has(bit: number): boolean {
    return (this.words[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  set(bit: number): void {
    this.checkBit(bit);
    if (this.has(bit)) throw new Error(`bitset: bit ${bit} is already set`);
    this.words[bit >>> 5]! |= 1 << (bit & 31);
    this.hashValue ^= this.zobrist[bit]!;
  }

  clear(bit: number): void {
    this.checkBit(bit);
    if (!this.has(bit)) throw new Error(`bitset: bit ${bit} is not set`);
    this.words[bit >>> 5]! &= ~(1 << (bit & 31));
    this.hashValue ^= this.zobrist[bit]!;
  }

  private checkBit(bit: number): void {
    if (bit < 0 || bit >= this.size) throw new Error(`bitset: bit ${bit} out of range [0, ${this.size})`);
  }
}

/** Why the cache refused to grow: the caller turns this into an 'unknown' verdict. */
export class CacheFullError extends Error {
  constructor(
    readonly entriesMax: number,
    readonly bytesMax: number,
  ) {
    super(`linearizability memo is full (${entriesMax} entries, ~${bytesMax} bytes); raise cacheBytesMax or check shorter histories`);
  }
}

/** Estimated heap cost of one entry beyond its bitset words: its chain slot and Map entry. */
const ENTRY_OVERHEAD_BYTES = 48;

const INITIAL_ENTRIES = 1024;
const NO_ENTRY = -1;

/**
 * The memo of search nodes (linearized set, state key) already visited. Entries are grouped by
 * state key, then by bitset hash; bitsets live back to back in `arena`, and `chain` links
 * entries whose hashes collide. Comparison is exact (word by word), so a hash collision never
 * prunes a path wrongly.
 *
 * Optional operations (those outside `requiredMask`: pending ones, which may never take effect)
 * are compared by inclusion, not equality: a node is covered by a visited node with the same
 * state, the same required operations, and a subset of the optional ones, because that node
 * had every choice this one has and more (it may still use, or skip, the extra optional ones).
 * Their bits are kept out of the hash (Bitset `unhashed`) so such nodes share a bucket.
 */
export class LinearizedCache {
  private arena: Uint32Array;
  private chain: Int32Array;
  private entries = 0;
  private readonly byState = new Map<string, Map<number, number>>();
  private readonly wordsPerEntry: number;

  private readonly entriesMax: number;

  constructor(
    private readonly requiredMask: Uint32Array,
    private readonly bytesMax: number,
  ) {
    const bitsetWords = requiredMask.length;
    this.wordsPerEntry = bitsetWords;
    this.entriesMax = Math.floor(bytesMax / (4 * bitsetWords + ENTRY_OVERHEAD_BYTES));
    const initial = Math.min(INITIAL_ENTRIES, this.entriesMax);
    this.arena = new Uint32Array(initial * bitsetWords);
    this.chain = new Int32Array(initial);
  }

  get size(): number {
    return this.entries;
  }

  /** Adds (bits, stateKey) and returns true, or returns false if a visited node covers it. */
  addIfAbsent(bits: Bitset, stateKey: string): boolean {
    if (bits.words.length !== this.wordsPerEntry) {
      throw new Error(`cache: bitset has ${bits.words.length} words, expected ${this.wordsPerEntry}`);
    }
    let byHash = this.byState.get(stateKey);
    if (byHash === undefined) {
      byHash = new Map();
      this.byState.set(stateKey, byHash);
    }
    const hash = bits.hash;
    let head = byHash.get(hash) ?? NO_ENTRY;
    // One walk: stop if a visited entry covers this node; unlink entries this node covers
    // (it dominates them, so it prunes all they would), keeping each chain an antichain.
    let previous = NO_ENTRY;
    for (let e = head; e !== NO_ENTRY; e = this.chain[e]!) {
      if (this.covers(e, bits.words)) return false;
      if (this.coveredBy(e, bits.words)) {
        if (previous === NO_ENTRY) head = this.chain[e]!;
        else this.chain[previous] = this.chain[e]!;
        continue;
      }
      previous = e;
    }
    const entry = this.allocate();
    this.arena.set(bits.words, entry * this.wordsPerEntry);
    this.chain[entry] = head;
    byHash.set(hash, entry);
    return true;
  }

  /** Entry ⊆ words, and words has no required member that the entry lacks. */
  private covers(entry: number, words: Uint32Array): boolean {
    const base = entry * this.wordsPerEntry;
    for (let i = 0; i < words.length; i++) {
      const visited = this.arena[base + i]!;
      const current = words[i]!;
      if ((visited & ~current) !== 0 || (current & ~visited & this.requiredMask[i]!) !== 0) return false;
    }
    return true;
  }

  /** words ⊆ entry, and the entry has no required member that words lacks. */
  private coveredBy(entry: number, words: Uint32Array): boolean {
    const base = entry * this.wordsPerEntry;
    for (let i = 0; i < words.length; i++) {
      const visited = this.arena[base + i]!;
      const current = words[i]!;
      if ((current & ~visited) !== 0 || (visited & ~current & this.requiredMask[i]!) !== 0) return false;
    }
    return true;
  }

  private allocate(): number {
    if (this.entries >= this.entriesMax) throw new CacheFullError(this.entriesMax, this.bytesMax);
    if (this.entries === this.chain.length) {
      const capacity = Math.min(this.entriesMax, this.chain.length * 2);
      const arena = new Uint32Array(capacity * this.wordsPerEntry);
      arena.set(this.arena);
      const chain = new Int32Array(capacity);
      chain.set(this.chain);
      this.arena = arena;
      this.chain = chain;
    }
    return this.entries++;
  }
}
