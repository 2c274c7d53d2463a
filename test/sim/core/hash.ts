/**
 * Cheap non-cryptographic hashing for the simulation: entry identities (State Machine Safety,
 * Log Matching) and the trace hash that proves a seed replays bit for bit.
 */
import type { Entry, HardState, Message, Ready, Snapshot } from '../../../src/raft/index.js';

const MESSAGE_TYPE_CODES: Readonly<Record<string, number>> = {
  append: 1, appendResponse: 2, heartbeat: 3, heartbeatResponse: 4, vote: 5, voteResponse: 6, preVote: 7,
  preVoteResponse: 8, snapshot: 9, readIndex: 10, readIndexResponse: 11, timeoutNow: 12, transferLeader: 13,
};
const ROLE_CODES = { follower: 1, preCandidate: 2, candidate: 3, leader: 4 } as const;

/** A 53-bit hash of bytes (cyrb53), safe to use as a Map key. */
export function hashBytes(bytes: Uint8Array, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    h1 = Math.imul(h1 ^ b, 2654435761);
    h2 = Math.imul(h2 ^ b, 1597334677);
  }
  return finish53(h1, h2);
}

function finish53(a: number, b: number): number {
  let h1 = a;
  let h2 = b;
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** An incremental hash over a stream of numbers and byte strings (two 32-bit lanes). */
export class TraceHasher {
  private h1 = 0x811c9dc5;
  private h2 = 0x9e3779b9;
  private count = 0;

  addNumber(n: number): void {
    const lo = n | 0;
    const hi = Math.floor(n / 0x1_0000_0000) | 0;
    this.mix(lo);
    this.mix(hi);
  }

  addBytes(bytes: Uint8Array): void {
    this.mix(bytes.length);
    for (let i = 0; i < bytes.length; i++) this.mix(bytes[i] as number);
  }

  addString(text: string): void {
    this.mix(text.length);
    for (let i = 0; i < text.length; i++) this.mix(text.charCodeAt(i));
  }

  addEntry(entry: Entry): void {
    this.addNumber(entry.index);
    this.addNumber(entry.term);
    this.mix(entry.type === 'normal' ? 1 : 2);
    this.addBytes(entry.data);
  }

  addHardState(hs: HardState | undefined): void {
    if (hs === undefined) return this.mix(0);
    this.addNumber(hs.term);
    this.addNumber(hs.vote);
    this.addNumber(hs.commit);
  }

  addSnapshot(snapshot: Snapshot | undefined): void {
    if (snapshot === undefined) return this.mix(0);
    this.addNumber(snapshot.meta.index);
    this.addNumber(snapshot.meta.term);
    for (const v of snapshot.meta.confState.voters) this.addNumber(v);
    this.mix(-1);
    for (const l of snapshot.meta.confState.learners) this.addNumber(l);
    this.addBytes(snapshot.data);
  }

  addMessage(m: Message): void {
    this.mix(MESSAGE_TYPE_CODES[m.type] ?? -1);
    this.addNumber(m.from);
    this.addNumber(m.to);
    this.addNumber(m.term);
    this.addNumber(m.logTerm ?? -1);
    this.addNumber(m.index ?? -1);
    this.addNumber(m.commit ?? -1);
    this.mix(m.reject === undefined ? 0 : m.reject ? 1 : 2);
    this.mix(m.transfer === undefined ? 0 : m.transfer ? 1 : 2);
    if (m.rejectHint !== undefined) {
      this.addNumber(m.rejectHint.index);
      this.addNumber(m.rejectHint.term);
    }
    if (m.context !== undefined) this.addBytes(m.context);
    for (const e of m.entries ?? []) this.addEntry(e);
    this.addSnapshot(m.snapshot);
  }

  addReady(nodeId: number, rd: Ready): void {
    this.addNumber(nodeId);
    this.addHardState(rd.hardState);
    if (rd.softState !== undefined) {
      this.addNumber(rd.softState.leader);
      this.mix(ROLE_CODES[rd.softState.role]);
    }
    for (const e of rd.entries) this.addEntry(e);
    this.addSnapshot(rd.snapshot);
    this.mix(rd.messages.length);
    // Committed entries were hashed in full when they were appended: index and term suffice.
    for (const e of rd.committed) {
      this.mix(e.index);
      this.mix(e.term);
    }
    for (const rs of rd.readStates) {
      this.addNumber(rs.index);
      this.addBytes(rs.context);
    }
  }

  /** Number of values mixed so far (a cheap sanity figure for tests). */
  get length(): number {
    return this.count;
  }

  digest(): string {
    const a = (this.h1 >>> 0).toString(16).padStart(8, '0');
    const b = (this.h2 >>> 0).toString(16).padStart(8, '0');
    return a + b;
  }

  private mix(x: number): void {
    this.count++;
    this.h1 = Math.imul(this.h1 ^ x, 0x01000193);
    this.h2 = Math.imul(this.h2 ^ (x + 0x7f4a7c15), 0x5bd1e995);
    this.h2 ^= this.h2 >>> 15;
  }
}
