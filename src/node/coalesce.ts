/**
 * Merges the appends a leader's Ready holds for one follower into as few messages as possible.
 *
 * The core sends an append per follower for every proposal (propose() broadcasts at once), so a
 * loop turn that steps N proposals yields N one-entry appends per follower, and each follower
 * decodes, steps, persists and answers every one of them. Consecutive appends to one follower in
 * one term that continue each other (b starts where a ends, with a's last term as b's logTerm)
 * say together exactly what one append with both entry lists says: it is the append the core
 * itself sends when a follower's window reopens (sendAppend from its next index, up to
 * appendBatchBytesMax). A follower that accepts it ends in the state the sequence leaves it in,
 * with one answer for the last index (the leader's in-flight window frees everything up to an
 * acknowledged index); one that rejects it would have rejected the first of the sequence.
 *
 * The order of messages to each peer is kept; messages to different peers may interleave
 * differently, which the transport never promised to keep anyway (one stream per peer).
 */
import type { Entry, LogIndex, Message, NodeId, Term } from '../raft/index.js';

export function coalesceAppends(messages: readonly Message[], entryBytesMax: number): Message[] {
  if (messages.length < 2) return messages.slice();
  const out: Message[] = [];
  /** The last message to each peer: where it sits in `out`, and what was merged into it so far. */
  const lastTo = new Map<NodeId, Tail>();
  for (const m of messages) {
    const tail = lastTo.get(m.to);
    const bytes = m.type === 'append' ? entryDataBytes(m.entries) : 0;
    if (tail !== undefined && tail.bytes + bytes <= entryBytesMax && continues(tail, m)) {
      tail.merged ??= { entries: [...(tail.first.entries ?? [])], commit: tail.first.commit! };
      appendEntries(tail.merged.entries, m.entries ?? []);
      // Commit never goes back; a follower that handled both would end at the larger one.
      tail.merged.commit = Math.max(tail.merged.commit, m.commit!) as LogIndex;
      tail.bytes += bytes;
      tail.endIndex += m.entries?.length ?? 0;
      tail.endTerm = lastTerm(m);
      continue;
    }
    if (tail !== undefined) settle(tail, out);
    lastTo.set(m.to, { at: out.length, first: m, bytes, endIndex: endIndexOf(m), endTerm: lastTerm(m) });
    out.push(m);
  }
  for (const tail of lastTo.values()) settle(tail, out);
  return out;
}

/** Puts the merged append in the place of the first one, once nothing more can join it. */
function settle(tail: Tail, out: Message[]): void {
  if (tail.merged !== undefined) out[tail.at] = { ...tail.first, entries: tail.merged.entries, commit: tail.merged.commit };
}

interface Tail {
  readonly at: number;
  /** The message as the core sent it (never modified). */
  readonly first: Message;
  /** Entries and commit once something was merged into `first`: a new array, owned here. */
  merged?: { readonly entries: Entry[]; commit: LogIndex };
  bytes: number;
  /** Index and term of the last entry the (merged) append carries; its prev if none. */
  endIndex: number;
  endTerm: Term | undefined;
}

/** Whether `b` is the append that picks up exactly where the tail's append ends. */
function continues(tail: Tail, b: Message): boolean {
  const a = tail.first;
  if (!isPlainAppend(a) || !isPlainAppend(b) || a.from !== b.from || a.term !== b.term) return false;
  return b.index === tail.endIndex && b.logTerm === tail.endTerm;
}

function endIndexOf(m: Message): number {
  return (m.index ?? 0) + (m.entries?.length ?? 0);
}

function lastTerm(m: Message): Term | undefined {
  const entries = m.entries ?? [];
  return entries.length > 0 ? entries[entries.length - 1]!.term : m.logTerm;
}

function isPlainAppend(m: Message): boolean {
  return (
    m.type === 'append' &&
    m.index !== undefined &&
    m.logTerm !== undefined &&
    m.commit !== undefined &&
    m.reject === undefined &&
    m.rejectHint === undefined &&
    m.snapshot === undefined &&
    m.context === undefined &&
    m.transfer === undefined
  );
}

function appendEntries(into: Entry[], more: readonly Entry[]): void {
  const last = into[into.length - 1];
  const next = more[0];
  if (last !== undefined && next !== undefined && next.index !== last.index + 1) {
    throw new Error(`coalesceAppends: merged entries jump from ${last.index} to ${next.index}`);
  }
  for (const e of more) into.push(e);
}

function entryDataBytes(entries: readonly Entry[] | undefined): number {
  let bytes = 0;
  for (const e of entries ?? []) bytes += e.data.byteLength;
  return bytes;
}
