/**
 * An incremental, order-independent digest of a set: the sum modulo 2^256 of the SHA-256 of
 * each member's encoding. Adding or removing a member is one hash; the digest of a million
 * sessions never needs a full pass. Members are unique by key (a session id, a (client, seq)
 * pair), so equal sums mean equal sets barring a hash collision. It detects accidental
 * divergence between replicas; it is not meant to resist an adversary who picks the states.
 */
import * as crypto from 'node:crypto';

const MASK_256 = (1n << 256n) - 1n;

/** crypto.hash (Node ≥ 20.12) skips the Hash object; createHash for older versions. */
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'hex') => string }).hash;

export function sha256Hex(bytes: Uint8Array): string {
  return oneShot !== undefined ? oneShot('sha256', bytes, 'hex') : crypto.createHash('sha256').update(bytes).digest('hex');
}

export function sha256Big(bytes: Uint8Array): bigint {
  return BigInt(`0x${sha256Hex(bytes)}`);
}

export class SetHash {
  #sum = 0n;
  #count = 0;

  add(hash: bigint): void {
    this.#sum = (this.#sum + hash) & MASK_256;
    this.#count++;
  }

  remove(hash: bigint): void {
    if (this.#count === 0) throw new Error('SetHash.remove on an empty set');
    this.#sum = (this.#sum - hash) & MASK_256;
    this.#count--;
  }

  reset(): void {
    this.#sum = 0n;
    this.#count = 0;
  }

  get count(): number {
    return this.#count;
  }

  /** 64 hex digits. */
  hex(): string {
    return this.#sum.toString(16).padStart(64, '0');
  }
}
