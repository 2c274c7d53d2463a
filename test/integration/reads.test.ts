/**
 * Reads of a real three-node cluster under the conditions an outside client found defects in:
 * linearizable reads spread over the followers (read contexts colliding across nodes), a
 * follower whose link to the leader is cut one way (its read-index request lost), and reads and
 * touches racing a session's expiry under write load (expiry ordered with the log).
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionClient } from '../../src/client/index.js';
import { TestCluster, sleep } from './harness.js';

const TICK_MS = 50;
const ELECTION_TIMEOUT_MS_MAX = 2 * 10 * TICK_MS;

let cluster: TestCluster;
let writer: SessionClient;
/** One client per node, each talking to that node only, never retrying elsewhere. */
const nodeClients = new Map<number, SessionClient>();

beforeAll(async () => {
  cluster = await TestCluster.start({ nodes: 3, faultFiles: true, tickMs: TICK_MS });
  await cluster.waitForLeader();
  writer = await SessionClient.connect({ endpoints: [...cluster.endpoints], retriesMax: 10 });
  for (const id of cluster.ids) {
    nodeClients.set(id, await SessionClient.connect({ endpoints: [cluster.address(id)], retriesMax: 0 }));
  }
}, 60_000);

afterEach(() => {
  expect(cluster.unexpectedExits, cluster.describeUnexpectedExits()).toEqual([]);
});

afterAll(async () => {
  writer?.close();
  for (const client of nodeClients.values()) client.close();
  await cluster?.close();
});

function codeOf(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

describe('linearizable reads', () => {
  it('spread over both followers by eight concurrent readers, every read is answered', async () => {
    const { session } = await writer.create({ clientId: 'spread', transport: 'http' });
    const leader = await cluster.waitForLeader();
    const followers = cluster.ids.filter((id) => id !== leader);
    const failures: string[] = [];
    let answered = 0;
    const until = Date.now() + 5_000;
    await Promise.all(
      Array.from({ length: 8 }, async (_, reader) => {
        for (let i = 0; Date.now() < until; i++) {
          const node = followers[(reader + i) % followers.length]!;
          try {
            await nodeClients.get(node)!.get(session.sessionId, { deadlineMs: 3_000 });
            answered++;
          } catch (error) {
            failures.push(`node ${node}: ${(error as Error).message}`);
          }
        }
      }),
    );
    expect(failures.slice(0, 5)).toEqual([]);
    expect(answered).toBeGreaterThan(500);
  });

  it('a follower cut off from the leader (one way) answers its reads soon after the link heals', async () => {
    const { session, index } = await writer.create({ clientId: 'cut', transport: 'http' });
    await cluster.waitForApplied(index);
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader)!;
    await cluster.blockLinks(follower, [leader]);
    let healedAtMs = Number.POSITIVE_INFINITY;
    try {
      const reads = Array.from({ length: 5 }, async () => {
        await nodeClients.get(follower)!.get(session.sessionId, { deadlineMs: 15_000 });
        return Date.now();
      });
      await sleep(2_200);
      healedAtMs = Date.now();
      await cluster.healNetwork();
      const answeredAtMs = await Promise.all(reads);
      for (const at of answeredAtMs) expect(at - healedAtMs).toBeLessThan(ELECTION_TIMEOUT_MS_MAX + 500);
    } finally {
      await cluster.healNetwork();
    }
  });
});

interface ReadRecord {
  readonly node: number;
  readonly consistency: 'linearizable' | 'stale';
  readonly invokedMs: number;
  readonly answeredMs: number;
  /** undefined: the read failed otherwise (its outcome says nothing about the session). */
  readonly found: boolean | undefined;
}

/** One session racing its expiry: a touch just before it, reads all around it, on every node. */
interface TrialOutcome {
  readonly violations: string[];
  readonly failedReads: number;
  /** The touch was sent before the expiry (timers can fire late on a loaded machine). */
  readonly touchedInTime: boolean;
}

async function expiryTrial(trial: number): Promise<TrialOutcome> {
  const { session } = await writer.create({ clientId: `expiry-${trial}`, transport: 'http', ttlMs: 1_000 });
  const expiresAtMs = session.expiresAtMs;
  const reads: Promise<ReadRecord>[] = [];
  const read = async (offsetMs: number, node: number, consistency: 'linearizable' | 'stale'): Promise<ReadRecord> => {
    await sleep(Math.max(0, expiresAtMs + offsetMs - Date.now()));
    const invokedMs = Date.now();
    try {
      await nodeClients.get(node)!.get(session.sessionId, { consistency, deadlineMs: 5_000 });
      return { node, consistency, invokedMs, answeredMs: Date.now(), found: true };
    } catch (error) {
      const found = codeOf(error) === grpc.status.NOT_FOUND ? false : undefined;
      return { node, consistency, invokedMs, answeredMs: Date.now(), found };
    }
  };
  for (const offsetMs of [-14, -11, -8, -5, -3, -1, 0, 1, 2, 4, 7, 10, 15, 25, 40, 80]) {
    for (const node of cluster.ids) {
      reads.push(read(offsetMs, node, 'linearizable'));
      reads.push(read(offsetMs + 1, node, 'stale'));
    }
  }
  await sleep(Math.max(0, expiresAtMs - 9 - Date.now()));
  const touchInvokedMs = Date.now();
  const touch = await writer.touch(session.sessionId, { deadlineMs: 5_000 }).then(
    (answer) => ({ ok: true as const, answeredMs: Date.now(), expiresAtMs: answer.session?.expiresAtMs ?? expiresAtMs }),
    (error: unknown) => {
      if (codeOf(error) !== grpc.status.NOT_FOUND) throw error;
      return { ok: false as const, answeredMs: Date.now(), expiresAtMs };
    },
  );
  const history = await Promise.all(reads);
  const violations: string[] = [];
  const show = (r: ReadRecord): string =>
    `${r.consistency} read on n${r.node} [${r.invokedMs - expiresAtMs}, ${r.answeredMs - expiresAtMs}] ms from expiry: ${r.found ? 'found' : 'NOT_FOUND'}`;
  for (const gone of history.filter((r) => r.found === false && r.consistency === 'linearizable')) {
    for (const later of history.filter((r) => r.found && r.invokedMs > gone.answeredMs)) {
      if (later.consistency === 'linearizable') violations.push(`trial ${trial}: ${show(gone)}, then ${show(later)}`);
    }
  }
  for (const gone of history.filter((r) => r.found === false && r.consistency === 'stale')) {
    for (const later of history.filter((r) => r.found && r.node === gone.node && r.invokedMs > gone.answeredMs)) {
      violations.push(`trial ${trial}: resurrected on n${gone.node}: ${show(gone)}, then ${show(later)}`);
    }
  }
  for (const r of history) {
    if (r.consistency === 'linearizable' && r.found && r.invokedMs >= touch.expiresAtMs) {
      violations.push(`trial ${trial}: returned after its expiry: ${show(r)}`);
    }
    if (touch.ok && r.consistency === 'linearizable' && r.found === false && r.invokedMs > touch.answeredMs && r.invokedMs < touch.expiresAtMs) {
      violations.push(`trial ${trial}: a touch acknowledged at ${touch.answeredMs - expiresAtMs} ms, then ${show(r)}`);
    }
  }
  return { violations, failedReads: history.filter((r) => r.found === undefined).length, touchedInTime: touchInvokedMs < expiresAtMs };
}

describe('expiry is ordered with the log', () => {
  it('a touch racing the expiry never revives a session a read reported gone (many trials, under write load)', async () => {
    const writersUntilMs = Date.now() + 14_000;
    const { session: busy } = await writer.create({ clientId: 'busy', transport: 'http' });
    const writers = Array.from({ length: 6 }, async (_, w) => {
      for (let i = 0; Date.now() < writersUntilMs; i++) {
        // A failed write waits a little: a loop of instant rejections would starve the timers.
        await writer.update(busy.sessionId, { data: { [`w${w}`]: i } }, { deadlineMs: 5_000 }).catch(() => sleep(20));
      }
    });
    const trials: Promise<TrialOutcome>[] = [];
    for (let trial = 0; trial < 24; trial++) {
      trials.push(expiryTrial(trial));
      await sleep(170);
    }
    const outcomes = await Promise.all(trials);
    await Promise.all(writers);
    expect(outcomes.flatMap((o) => o.violations).slice(0, 10)).toEqual([]);
    expect(outcomes.reduce((sum, o) => sum + o.failedReads, 0)).toBe(0);
    expect(outcomes.filter((o) => o.touchedInTime).length).toBeGreaterThan(outcomes.length / 2);
  });
});
