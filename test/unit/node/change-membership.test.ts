/**
 * Regression: changeMembership answers success only for its own entry. A leader proposed a
 * removal, lost leadership before it committed, and the next leader's log put another entry at
 * that index and the same removal later, not committed yet: the call used to resolve with its
 * index (the configuration showed the node removed), so the operator stopped a node that was
 * still a voter. Found by the simulation of real nodes with membership changes (seeds 951, 967).
 */
import { expect, it } from 'vitest';
import { NodeError, SYSTEM_CLOCK, SessionNode, resolveNodeOptions } from '../../../src/node/index.js';
import { encodeConfChange, type Entry, type LogIndex, type Message, type NodeId, type Term } from '../../../src/raft/index.js';
import { createMemoryStorage } from '../../../src/storage/index.js';
import { silentLogger, stopAfterTest, testTransport } from './helpers.js';

const id = (n: number): NodeId => n as NodeId;

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition(), what).toBe(true);
}

it('regression: a removal overtaken by another leader\'s entry at its index is not reported applied, even when that leader removes the same node later', async () => {
  const transport = testTransport();
  const { sent } = transport;
  const deliver = (message: Message): void => transport.deliver(message);
  const peers = new Map([1, 2, 3].map((n) => [id(n), `n${n}:1`] as const));
  const options = resolveNodeOptions({ id: id(1), clusterId: 'unit', listenAddress: 'n1:1', peers, dataDir: '/nonexistent', tickIntervalMs: 5 });
  const node = await SessionNode.open({ options, logger: silentLogger, storage: createMemoryStorage(), transport, clock: SYSTEM_CLOCK, random: Math.random });
  stopAfterTest(node);
  node.start();
  // Node 2 grants the pre-vote and the vote, and acknowledges the new leader's no-op (index 4).
  const answer = (type: Message['type'], reply: (m: Message) => Message): void => {
    for (const m of sent.splice(0)) if (m.type === type && m.to === id(2)) deliver(reply(m));
  };
  await until('a pre-vote request', () => sent.some((m) => m.type === 'preVote'));
  answer('preVote', (m) => ({ type: 'preVoteResponse', from: id(2), to: id(1), term: m.term, reject: false }));
  await until('a vote request', () => sent.some((m) => m.type === 'vote'));
  answer('vote', (m) => ({ type: 'voteResponse', from: id(2), to: id(1), term: m.term, reject: false }));
  await until('leadership', () => node.status().raft.role === 'leader');
  const term = node.status().raft.term;
  await until('the no-op sent', () => sent.some((m) => m.type === 'append' && (m.entries?.length ?? 0) > 0));
  deliver({ type: 'appendResponse', from: id(2), to: id(1), term, index: 4 as LogIndex, reject: false });
  await until('the no-op applied', () => node.status().appliedIndex === 4);

  const call = node.changeMembership({ type: 'remove', id: id(3) }, { deadlineMs: 2_000 });
  const outcome = call.then(
    (index) => ({ index }),
    (error: unknown) => ({ error }),
  );
  // Node 2 leads a later term without our entry 5: its no-op at 5, the same removal at 6 (not
  // committed), commit 5.
  const next = (term + 1) as Term;
  const entries: Entry[] = [
    { index: 5 as LogIndex, term: next, type: 'normal', data: new Uint8Array() },
    { index: 6 as LogIndex, term: next, type: 'confChange', data: encodeConfChange({ type: 'removeNode', node: id(3) }) },
  ];
  deliver({ type: 'append', from: id(2), to: id(1), term: next, logTerm: term, index: 4 as LogIndex, entries, commit: 5 as LogIndex });
  const result = await outcome;
  expect(node.status().raft.confState.voters).toEqual([1, 2]);
  expect(node.status().raft.commit).toBe(5);
  expect(result).toHaveProperty('error');
  expect((result as { error: NodeError }).error.code).toBe('OUTCOME_UNKNOWN');
});
