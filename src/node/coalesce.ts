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
import type { Entry, Message, NodeId } from '../raft/index.js';

export function coalesceAppends(messages: readonly Message[], entryBytesMax: number): Message[] {
  if (messages.length < 2) return messages.slice();
  const out: Message[] = [];
  /** Where the last message to each peer sits in `out`, with the entry bytes merged into it. */
  const lastTo = new Map<NodeId, { at: number; bytes: number }>();
  for (const m of messages) {
    const last = lastTo.get(m.to);
    const prev = last === undefined ? undefined : out[last.at]!;
    const bytes = m.type === 'append' ? entryDataBytes(m.entries) : 0;
    if (last !== undefined && prev !== undefined && continues(prev, m) && last.bytes + bytes <= entryBytesMax) {
      out[last.at] = merge(prev, m);
      last.bytes += bytes;
      continue;
    }
    lastTo.set(m.to, { at: out.length, bytes });
    out.push(m);
  }
  return out;
}

/** Whether `b` is the append that picks up exactly where append `a` ends. */
function continues(a: Message, b: Message): boolean {
  if (!isPlainAppend(a) || !isPlainAppend(b) || a.from !== b.from || a.to !== b.to || a.term !== b.term) return false;
  const aEntries = a.entries ?? [];
  const aLast = aEntries[aEntries.length - 1];
  const aEndIndex = (a.index ?? 0) + aEntries.length;
  const aEndTerm = aLast === undefined ? a.logTerm : aLast.term;
  return b.index === aEndIndex && b.logTerm === aEndTerm;
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

function merge(a: Message, b: Message): Message {
  const entries: Entry[] = [...(a.entries ?? []), ...(b.entries ?? [])];
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.index !== entries[i - 1]!.index + 1) {
      throw new Error(`coalesceAppends: merged entries jump from ${entries[i - 1]!.index} to ${entries[i]!.index}`);
    }
  }
  return {
    type: 'append',
    from: a.from,
    to: a.to,
    term: a.term,
    index: a.index!,
    logTerm: a.logTerm!,
    entries,
    // Commit never goes back; a follower that handled both would end at the larger one.
    commit: Math.max(a.commit!, b.commit!) as NonNullable<Message['commit']>,
  };
}

function entryDataBytes(entries: readonly Entry[] | undefined): number {
  let bytes = 0;
  for (const e of entries ?? []) bytes += e.data.byteLength;
  return bytes;
}
