/**
 * Golden transcripts (in the spirit of etcd's testdata/*.txt): a scenario's every message,
 * rendered one per line, compared with a checked-in file. A behaviour change shows up as a
 * readable diff; regenerate deliberately with `npx vitest run -u test/unit/raft/transcript.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import type { Message } from '../../../src/raft/index.js';
import { Network, bytes, text } from './network.js';

function render(m: Message): string {
  const parts = [`${m.from}->${m.to} ${m.type} t${m.term}`];
  if (m.logTerm !== undefined || m.index !== undefined) parts.push(`log=${m.logTerm ?? '-'}/${m.index ?? '-'}`);
  if (m.entries && m.entries.length > 0) parts.push(`entries=[${m.entries.map((e) => `${e.term}/${e.index}${e.data.byteLength ? ':' + text(e.data) : ''}`).join(' ')}]`);
  if (m.commit !== undefined) parts.push(`commit=${m.commit}`);
  if (m.reject) parts.push('REJECT');
  if (m.rejectHint) parts.push(`hint=${m.rejectHint.term}/${m.rejectHint.index}`);
  if (m.context) parts.push(`ctx=${text(m.context)}`);
  if (m.snapshot) parts.push(`snap=${m.snapshot.meta.term}/${m.snapshot.meta.index}`);
  if (m.transfer) parts.push('transfer');
  return parts.join(' ');
}

function transcript(steps: ReadonlyArray<[string, (net: Network) => void]>): string {
  const net = new Network({ voters: [1, 2, 3], seed: 7 });
  const lines: string[] = [];
  for (const [title, act] of steps) {
    const mark = net.sent.length;
    act(net);
    lines.push(`> ${title}`, ...net.sent.slice(mark).map(render));
    const status = [...net.nodes.values()].map((node) => {
      const s = node.status();
      return `  ${s.id}: ${s.role} t${s.term} lead=${s.leader} commit=${s.commit} last=${s.lastIndex}`;
    });
    lines.push(...status);
  }
  return lines.join('\n') + '\n';
}

describe('golden transcripts', () => {
  it('election, replication, a lagging follower catching up, a read and a transfer', async () => {
    const out = transcript([
      ['node 1 campaigns', (net) => net.campaign(1)],
      ['propose a', (net) => { net.node(1).propose(bytes('a')); net.stabilize(); }],
      ['node 3 cut off; propose b, c', (net) => { net.isolate(3); net.node(1).propose(bytes('b')); net.node(1).propose(bytes('c')); net.stabilize(); }],
      ['heal; one heartbeat', (net) => { net.heal(); net.tick(1, [1]); }],
      ['read on node 2', (net) => { net.node(2).readIndex(bytes('r1')); net.stabilize(); net.tick(1, [1]); }],
      ['transfer to 3', (net) => { net.node(1).transferLeadership(3 as never); net.stabilize(); }],
    ]);
    await expect(out).toMatchFileSnapshot('./__snapshots__/transcript-basic.txt');
  });
});
