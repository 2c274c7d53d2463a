// sessionraft adapter for ../shared/anchors/loadgen.mjs (same workload as etcd, NATS and Redis).
// put(key, value) creates a session whose data holds the 300-byte record; the cluster assigns the
// session id, so the adapter remembers key → session id (a Map lookup, no I/O). get() is a
// LINEARIZABLE read (ReadIndex) unless SESSIONRAFT_READ=stale; writes use the node's default
// durability (SYNC) unless SESSIONRAFT_DURABILITY=async.
import { connect as connectClient } from '../dist/src/client/index.js';

export async function connect(opts) {
  const client = await connectClient({ endpoints: opts.endpoints, pendingCallsMax: 65_536, retriesMax: 10 });
  const consistency = process.env.SESSIONRAFT_READ === 'stale' ? 'stale' : 'linearizable';
  const durability = process.env.SESSIONRAFT_DURABILITY === 'async' ? 'async' : 'sync';
  const ids = new Map();
  // Readiness: a write must commit (needs a leader).
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await client.create({ clientId: 'bench-ready', transport: 'http' });
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  let n = 0;
  return {
    describe: `get=${consistency} put=${durability}`,
    key: (id) => id,
    put: async (key, value) => {
      const { session } = await client.create(
        { clientId: `u${n++ % 1024}`, transport: 'http', data: { v: value } },
        { durability },
      );
      ids.set(key, session.sessionId);
    },
    get: async (key) => {
      const id = ids.get(key);
      if (id === undefined) throw new Error(`missing key ${key}`);
      const { session } = await client.get(id, { consistency });
      return session.data.v;
    },
    close: async () => client.close(),
  };
}
