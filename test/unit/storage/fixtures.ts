/** Small builders shared by the storage tests. */
import { logIndex, nodeId, term, type Entry, type HardState, type SnapshotMeta } from '../../../src/raft/index.js';
import type { RaftLogStore, StateStore } from '../../../src/storage/index.js';

const utf8 = new TextEncoder();

/** An entry whose data names its index and term, so a wrong entry never compares equal. */
export function entry(index: number, t: number, data: Uint8Array = utf8.encode(`e${index}t${t}`)): Entry {
  return { index: logIndex(index), term: term(t), type: 'normal', data };
}

/** Entries from..to (inclusive), all at term t. */
export function entries(from: number, to: number, t: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) out.push(entry(index, t));
  return out;
}

export function hardState(t: number, vote: number, commit: number): HardState {
  return { term: term(t), vote: nodeId(vote), commit: logIndex(commit) };
}

export function snapshotMeta(index: number, t: number, voters: number[] = [1, 2, 3]): SnapshotMeta {
  return { index: logIndex(index), term: term(t), confState: { voters: voters.map(nodeId), learners: [nodeId(9)] } };
}

export function bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

/** [index, term] of every entry the log loads, for compact assertions. */
export async function loadedIndexTerms(log: RaftLogStore): Promise<Array<[number, number]>> {
  const loaded = await log.load();
  return loaded.entries.map((e) => [e.index, e.term]);
}

export async function stateContents(state: StateStore): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const [key, value] of state.entries()) out.push([key, new TextDecoder().decode(value)]);
  return out;
}
