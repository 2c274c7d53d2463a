import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { logIndex, nodeId, term, type Message } from '../../../src/raft/index.js';
import { CodecError, decodeMessage, encodeMessage } from '../../../src/transport/index.js';

const MAX = 1 << 20;
const plain = new Packr({ useRecords: false });

const full: Message = {
  type: 'append',
  from: nodeId(1),
  to: nodeId(2),
  term: term(7),
  logTerm: term(6),
  index: logIndex(41),
  commit: logIndex(40),
  entries: [
    { term: term(7), index: logIndex(42), type: 'normal', data: new Uint8Array([1, 2, 3, 0, 255]) },
    { term: term(7), index: logIndex(43), type: 'confChange', data: new Uint8Array(0) },
  ],
  reject: false,
  rejectHint: { index: logIndex(3), term: term(2) },
  context: new Uint8Array([9, 9]),
  transfer: true,
};

const snapshot: Message = {
  type: 'snapshot',
  from: nodeId(1),
  to: nodeId(3),
  term: term(4),
  snapshot: {
    meta: { index: logIndex(100), term: term(4), confState: { voters: [nodeId(1), nodeId(2)], learners: [nodeId(3)] } },
    data: new Uint8Array(70_000).fill(7),
  },
};

function decodeError(bytes: Uint8Array): CodecError {
  try {
    decodeMessage(bytes, MAX);
  } catch (error) {
    if (error instanceof CodecError) return error;
    throw error;
  }
  throw new Error('decoded without error');
}

describe('codec', () => {
  it('round-trips every field, and byte strings come back as plain Uint8Arrays', () => {
    const withMembers: Message = {
      ...snapshot,
      snapshot: {
        meta: { ...snapshot.snapshot!.meta, confState: { voters: [nodeId(1)], learners: [], addresses: { 1: '127.0.0.1:7001' }, removed: [nodeId(2)] } },
        data: new Uint8Array(3),
      },
    };
    for (const m of [full, snapshot, withMembers, { type: 'vote', from: nodeId(3), to: nodeId(1), term: term(1) } as Message]) {
      const back = decodeMessage(encodeMessage(m, MAX), MAX);
      expect(back).toEqual(m);
    }
    const back = decodeMessage(encodeMessage(full, MAX), MAX);
    expect(back.entries?.[0]?.data.constructor).toBe(Uint8Array);
    expect(back.context?.constructor).toBe(Uint8Array);
    expect(Object.keys(decodeMessage(encodeMessage(snapshot, MAX), MAX)).sort()).toEqual(['from', 'snapshot', 'term', 'to', 'type']);
  });

  it('encodes plain MessagePack maps keyed by field name, without foreign properties', () => {
    const withExtra = { ...full, extra: 'x', entries: undefined } as unknown as Message;
    const raw = plain.unpack(encodeMessage(withExtra, MAX)) as Record<string, unknown>;
    expect(raw.type).toBe('append');
    expect(raw.term).toBe(7);
    expect('extra' in raw).toBe(false);
    expect('entries' in raw).toBe(false);
  });

  it('enforces the size limit on both sides', () => {
    const bytes = encodeMessage(snapshot, MAX);
    expect(() => encodeMessage(snapshot, 1000)).toThrow(/encodes to \d+ bytes, over the limit of 1000/);
    expect(() => decodeMessage(bytes, bytes.length - 1)).toThrow(CodecError);
    expect(decodeMessage(bytes, bytes.length).type).toBe('snapshot');
  });

  it('rejects bytes that are not MessagePack', () => {
    expect(decodeError(new Uint8Array([0x92, 0x01])).reason).toBe('undecodable'); // truncated array
    expect(decodeError(new Uint8Array([0x01, 0x02])).reason).toBe('undecodable'); // trailing bytes
  });

  it('rejects MessagePack that is not a Message', () => {
    const cases: unknown[] = [
      7,
      [1, 2],
      { type: 'nope', from: 1, to: 2, term: 1 },
      { type: 'vote', from: -1, to: 2, term: 1 },
      { type: 'vote', from: 1, to: 2, term: 1.5 },
      { type: 'vote', from: 1, to: 2 },
      { type: 'vote', from: 1, to: 2, term: 1, context: 'text' },
      { type: 'vote', from: 1, to: 2, term: 1, reject: 1 },
      { type: 'append', from: 1, to: 2, term: 1, entries: [{ term: 1, index: 1, type: 'normal', data: 'x' }] },
      { type: 'append', from: 1, to: 2, term: 1, entries: [{ term: 1, index: 1, type: 'odd', data: new Uint8Array(0) }] },
      { type: 'snapshot', from: 1, to: 2, term: 1, snapshot: { meta: { index: 1, term: 1 }, data: new Uint8Array(0) } },
      { type: 'vote', from: 1, to: 2, term: new Date(0) },
    ];
    for (const raw of cases) expect(decodeError(plain.pack(raw)).reason, JSON.stringify(raw)).toBe('malformed');
  });
});
