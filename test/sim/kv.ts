/**
 * The simulation's state machine: a key-value map with put/delete commands, JSON-encoded in
 * log entries (an empty entry is the leader's no-op; conf-change entries leave the map alone).
 * It keeps an order-independent hash of its contents so replicas can be compared cheaply.
 */
import type { ConfState, Entry, LogIndex, SnapshotMeta, Term } from '../../src/raft/index.js';
import { applyConfChange, decodeConfChange, logIndex, term } from '../../src/raft/index.js';
import { hashString } from './hash.js';

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string; readonly id: string }
  | { readonly op: 'del'; readonly key: string; readonly id: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(command: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

/** Entries are shared by reference between simulated nodes: decode each payload once. */
const decoded = new WeakMap<Uint8Array, KvCommand>();

export function decodeCommand(data: Uint8Array): KvCommand {
  const cached = decoded.get(data);
  if (cached !== undefined) return cached;
  const command = parseCommand(data);
  decoded.set(data, command);
  return command;
}

function parseCommand(data: Uint8Array): KvCommand {
  const parsed = JSON.parse(decoder.decode(data)) as KvCommand;
  if ((parsed.op !== 'put' && parsed.op !== 'del') || typeof parsed.key !== 'string') {
    throw new Error(`not a kv command: ${decoder.decode(data)}`);
  }
  return parsed;
}

interface SnapshotBody {
  readonly index: number;
  readonly term: number;
  readonly kv: readonly (readonly [string, string])[];
}

export class KvStateMachine {
  private readonly kv = new Map<string, string>();
  private contentHashLo = 0;
  private contentHashHi = 0;
  appliedIndex: LogIndex = logIndex(0);
  appliedTerm: Term = term(0);
  /** Membership as of appliedIndex (what a snapshot taken now must carry). */
  confState: ConfState;

  constructor(bootstrapConfState: ConfState) {
    this.confState = bootstrapConfState;
  }

  get(key: string): string | undefined {
    return this.kv.get(key);
  }

  get size(): number {
    return this.kv.size;
  }

  /** An order-independent fingerprint of the contents and the applied index. */
  stateHash(): string {
    return `${this.appliedIndex}:${this.contentHashHi.toString(16)}.${this.contentHashLo.toString(16)}`;
  }

  /** Applies one committed entry; entries must arrive in index order without gaps. */
  apply(entry: Entry): KvCommand | undefined {
    if (entry.index !== this.appliedIndex + 1) {
      throw new Error(`kv apply out of order: entry ${entry.index} after applied ${this.appliedIndex}`);
    }
    this.appliedIndex = entry.index;
    this.appliedTerm = entry.term;
    if (entry.type === 'confChange') {
      this.confState = applyConfChange(this.confState, decodeConfChange(entry.data));
      return undefined;
    }
    if (entry.data.length === 0) return undefined;
    const command = decodeCommand(entry.data);
    if (command.op === 'put') this.set(command.key, command.value);
    else this.remove(command.key);
    return command;
  }

  snapshotData(): Uint8Array {
    const kv = [...this.kv.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const body: SnapshotBody = { index: this.appliedIndex, term: this.appliedTerm, kv };
    return encoder.encode(JSON.stringify(body));
  }

  /** Replaces the whole state with a snapshot's (its data must be taken at meta.index). */
  restore(data: Uint8Array, meta: SnapshotMeta): void {
    const body = JSON.parse(decoder.decode(data)) as SnapshotBody;
    if (body.index !== meta.index) {
      throw new Error(`snapshot data at ${body.index} but its meta says ${meta.index}`);
    }
    this.kv.clear();
    this.contentHashLo = 0;
    this.contentHashHi = 0;
    for (const [k, v] of body.kv) this.set(k, v);
    this.appliedIndex = logIndex(body.index);
    this.appliedTerm = meta.term;
    this.confState = meta.confState;
  }

  private set(key: string, value: string): void {
    this.remove(key);
    this.kv.set(key, value);
    this.toggle(key, value);
  }

  private remove(key: string): void {
    const old = this.kv.get(key);
    if (old === undefined) return;
    this.kv.delete(key);
    this.toggle(key, old);
  }

  /** XOR in/out the pair's hash: the fingerprint does not depend on the order of writes. */
  private toggle(key: string, value: string): void {
    const h = hashString(`${key}\u0000${value}`);
    this.contentHashLo = (this.contentHashLo ^ (h >>> 0)) >>> 0;
    this.contentHashHi = (this.contentHashHi ^ Math.floor(h / 0x1_0000_0000)) >>> 0;
  }
}
