/**
 * A real three-node cluster under faults (kill -9, SIGSTOP/SIGCONT, SIGTERM, restarts, network
 * partitions both ways and one way, injected through --fault-file) while
 * concurrent clients update and read sessions through the real SDK. Afterwards:
 *  - the recorded history of every session (a register: update writes data.v, get reads it) is
 *    linearizable (test/lincheck, Porcupine's algorithm; unknown outcomes may have happened or not);
 *  - every acknowledged SYNC create is present;
 *  - every node ends with the same state digest.
 * The fault schedule comes from a seeded PRNG; a failure prints the seed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SessionClient, UnavailableError, type SessionRaftError } from '../../src/client/index.js';
import {
  checkOperationsVerbose,
  describeCounterexample,
  registerModel,
  type RegisterInput,
  type RegisterOutput,
  type Operation,
} from '../lincheck/index.js';
import { TestCluster, sleep } from '../integration/harness.js';
import { mulberry32 as prng } from '../support/prng.js';

const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
const KEYS = 6;
const CLIENTS = 6;
/** How long faults are injected; a soak run sets CHAOS_MS (e.g. 120000). */
const CHAOS_MS = Number(process.env.CHAOS_MS ?? 12_000);
if (!Number.isSafeInteger(CHAOS_MS) || CHAOS_MS < 1_000) throw new RangeError(`CHAOS_MS must be an integer ≥ 1000, got ${process.env.CHAOS_MS}`);
const CALL_DEADLINE_MS = 1_500;
/** Faults go on past CHAOS_MS until at least this many were injected (partitions last up to 2.5 s). */
const FAULTS_MIN = 6;


/** Refused before anything was proposed (a follower's answer, no connection): it did not happen. */
function certainlyNotApplied(error: unknown): boolean {
  return error instanceof UnavailableError && (error as SessionRaftError).leader !== undefined;
}

let cluster: TestCluster | undefined;
const clients: SessionClient[] = [];

afterAll(async () => {
  for (const client of clients) client.close();
  await cluster?.close();
});

describe(`chaos (seed ${SEED}: replay with CHAOS_SEED=${SEED})`, () => {
  it('keeps every session linearizable and every acknowledged SYNC write through kill -9, SIGSTOP, restarts and partitions', async () => {
    const random = prng(SEED);
    cluster = await TestCluster.start({ nodes: 3, faultFiles: true, nodeArgs: ['--snapshot-entries', '300'] });
    await cluster.waitForLeader();
    const endpoints = [...cluster.endpoints];
    for (let i = 0; i < CLIENTS + 1; i++) {
      clients.push(await SessionClient.connect({ endpoints, retriesMax: 8, deadlineMsDefault: CALL_DEADLINE_MS }));
    }
    const history: Operation<RegisterInput, RegisterOutput>[] = [];
    const now = (): number => performance.now();

    // One session per key, created (and recorded) as the key's first write.
    const sessionIds: string[] = [];
    for (let k = 0; k < KEYS; k++) {
      const call = now();
      const { session } = await clients[0]!.create({ clientId: 'chaos', transport: 'http', data: { v: `init-${k}` } });
      history.push({ clientId: 0, input: { key: `k${k}`, op: 'write', value: `init-${k}` }, call, output: { status: 'ok' }, return: now() });
      sessionIds.push(session.sessionId);
    }

    let running = true;
    let writeSeq = 0;
    const acknowledgedCreates = new Set<string>();
    const worker = async (c: number): Promise<void> => {
      const client = clients[c]!;
      const local = prng(SEED * 31 + c);
      while (running) {
        const k = Math.floor(local() * KEYS);
        const key = `k${k}`;
        const call = now();
        if (local() < 0.5) {
          const value = `c${c}-${writeSeq++}`;
          try {
            await client.update(sessionIds[k]!, { data: { v: value } });
            history.push({ clientId: c, input: { key, op: 'write', value }, call, output: { status: 'ok' }, return: now() });
          } catch (error) {
            const status = certainlyNotApplied(error) ? 'failed' : 'unknown';
            history.push({ clientId: c, input: { key, op: 'write', value }, call, output: { status }, return: Infinity });
          }
        } else {
          try {
            const { session } = await client.get(sessionIds[k]!);
            history.push({ clientId: c, input: { key, op: 'read' }, call, output: { status: 'ok', value: session.data.v as string }, return: now() });
          } catch {
            // A read whose answer never came tells nothing.
          }
        }
        if (local() < 0.1) {
          try {
            const { session } = await client.create({ clientId: `chaos-${c}`, transport: 'http' }, { durability: 'sync' });
            acknowledgedCreates.add(session.sessionId);
          } catch {
            // Unacknowledged: it may or may not exist, and nothing is promised.
          }
        }
      }
    };
    const workers = Array.from({ length: CLIENTS }, (_, i) => worker(i + 1));

    // The fault schedule.
    const faults: string[] = [];
    const deadline = Date.now() + CHAOS_MS;
    while (Date.now() < deadline || faults.length < FAULTS_MIN) {
      await sleep(400 + random() * 800);
      const leaderish = (await cluster.status(1, 300).catch(() => undefined))?.leaderId || 1;
      const target = random() < 0.5 ? leaderish : 1 + Math.floor(random() * 3);
      if (!cluster.isRunning(target)) continue;
      const kind = random();
      if (kind >= 0.85) {
        // A network partition: the node keeps running (its clock too) but cannot reach the others.
        const oneWay = random() < 0.4;
        const other = 1 + ((target + Math.floor(random() * 2)) % 3);
        faults.push(oneWay ? `n${target} cannot send to n${other}` : `isolate n${target}`);
        if (oneWay) await cluster.blockLinks(target, [other]);
        else await cluster.isolate(target);
        await sleep(500 + random() * 2_000);
        await cluster.healNetwork();
        continue;
      }
      if (kind < 0.35) {
        faults.push(`kill -9 n${target}`);
        await cluster.signal(target, 'SIGKILL');
        await sleep(300 + random() * 1_000);
        cluster.startNode(target);
      } else if (kind < 0.65) {
        faults.push(`SIGSTOP n${target}`);
        await cluster.signal(target, 'SIGSTOP');
        await sleep(500 + random() * 1_500);
        await cluster.signal(target, 'SIGCONT');
      } else {
        faults.push(`SIGTERM n${target}`);
        await cluster.signal(target, 'SIGTERM');
        cluster.startNode(target);
      }
    }
    running = false;
    await Promise.all(workers);

    // No node may have died on its own (a crash, an invariant, a failed start): only our signals stop them.
    expect(cluster.unexpectedExits, `seed ${SEED}\n${cluster.describeUnexpectedExits()}`).toEqual([]);

    // Heal: every node up and connected, a leader, everything applied everywhere.
    await cluster.healNetwork();
    for (const id of cluster.ids) if (!cluster.isRunning(id)) cluster.startNode(id);
    await cluster.waitForLeader(30_000);
    const { index } = await clients[0]!.create({ clientId: 'chaos', transport: 'http' });
    await cluster.waitForApplied(index, 30_000);

    const context = `seed ${SEED}, faults: ${faults.join(', ')}`;
    const done = history.filter((op) => op.return !== Infinity);
    console.log(
      `chaos seed ${SEED}: ${history.length} operations (${done.filter((op) => op.input.op === 'read').length} reads, ` +
        `${done.filter((op) => op.input.op === 'write').length} acknowledged writes, ` +
        `${history.length - done.length} unknown or failed), ${acknowledgedCreates.size} acknowledged creates; ${faults.join(', ')}`,
    );
    const report = checkOperationsVerbose(registerModel, history, { timeoutMs: 60_000 });
    const explanation = report.counterexample ? describeCounterexample(registerModel, report.counterexample) : '';
    expect(report.result, `${context}\n${explanation}${report.unknownReason ?? ''}`).toBe('ok');
    expect(history.filter((op) => op.return !== Infinity && op.input.op === 'read').length, context).toBeGreaterThan(20);

    for (const id of acknowledgedCreates) {
      await expect(clients[0]!.get(id), `${context}: acknowledged create ${id} lost`).resolves.toMatchObject({
        session: { sessionId: id },
      });
    }
    expect(cluster.unexpectedExits, `${context}\n${cluster.describeUnexpectedExits()}`).toEqual([]);
    const digests = await Promise.all(cluster.ids.map(async (id) => (await cluster!.status(id, 5_000)).stateDigest));
    expect(new Set(digests).size, context).toBe(1);
  }, CHAOS_MS + 120_000);
});
