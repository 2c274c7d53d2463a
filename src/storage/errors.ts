/**
 * Storage errors. A broken caller contract (entries with a hole, a snapshot older than the one
 * stored) throws a plain Error with the numbers in its message: it is a bug upstream. Bytes on
 * disk that cannot be what we wrote throw StorageCorruptionError: an operating error that a
 * human (or a disk wipe and rejoin) must resolve.
 */
export class StorageCorruptionError extends Error {
  readonly code = 'STORAGE_CORRUPTION' as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Throws a plain Error (a broken invariant or caller contract) unless `condition` holds. */
export function assert(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new Error(message());
}
