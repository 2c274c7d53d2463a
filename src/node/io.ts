/**
 * What a SessionNode is handed instead of building it: a clock with timers, and a transport.
 * Production passes the system clock and the gRPC transport (compose.ts); the deterministic
 * simulation passes a simulated clock and network, so it runs the very node that ships.
 */
import type { Message, NodeId } from '../raft/index.js';
import type { SnapshotStore } from '../storage/index.js';

/** An opaque timer handle, as the clock that made it understands it. */
export type TimerHandle = { readonly __timer: never } | NodeJS.Timeout;

export interface Clock {
  /** Wall-clock milliseconds (stamps of commands, expiry of reads, deadlines). */
  nowMs(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(callback: () => void, intervalMs: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

export const SYSTEM_CLOCK: Clock = Object.freeze({
  nowMs: () => Date.now(),
  setTimeout: (callback: () => void, delayMs: number) => setTimeout(callback, delayMs),
  clearTimeout: (handle: TimerHandle | undefined) => clearTimeout(handle as NodeJS.Timeout | undefined),
  setInterval: (callback: () => void, intervalMs: number) => setInterval(callback, intervalMs),
  clearInterval: (handle: TimerHandle | undefined) => clearInterval(handle as NodeJS.Timeout | undefined),
});

/** The peer messaging a node needs: fire-and-forget sends and three kinds of delivery. */
export interface NodeTransport {
  /** Queues messages for their peers; never throws for a peer that is down (Raft tolerates loss). */
  send(messages: readonly Message[]): void;
  onMessage(handler: (message: Message) => void): void;
  /** A peer could not be reached: the core probes it again. */
  onUnreachable(handler: (peer: NodeId) => void): void;
  /** A snapshot sent to a peer was delivered (ok) or lost. */
  onSnapshotStatus(handler: (peer: NodeId, ok: boolean) => void): void;
  /** Dials `id` at `address` from now on (a new member, or one that moved). */
  addPeer(id: NodeId, address: string): void;
  /** Forgets `id` (no longer a member). */
  removePeer(id: NodeId): void;
  /**
   * The node's snapshot store, handed over when the node is created: a snapshot message is sent
   * with the stored snapshot read from it in chunks (the message's own data is ignored), and a
   * received snapshot is written to it and staged (SnapshotStore.stage) before its message, with
   * empty data, is delivered.
   */
  useSnapshots(store: SnapshotStore): void;
  close(): void;
}
