// Three sessionraft nodes started directly (not through `cluster up`) on 127.0.0.1:7401-7403 with
// their data in `dir`, for the bench tools that need each node's pid (profiles, CPU shares).
// stop() ends only these processes (SIGTERM, so a --cpu-prof node writes its profile) and waits.
import { spawn } from 'node:child_process';
import path from 'node:path';

export const LOCAL_NODE_ADDRESSES = ['127.0.0.1:7401', '127.0.0.1:7402', '127.0.0.1:7403'];

/** nodeFlags(id): extra node (V8) flags before the script, e.g. --cpu-prof. */
export function startLocalNodes({ root, dir, clusterId, nodeFlags = () => [] }) {
  const peers = LOCAL_NODE_ADDRESSES.map((address, i) => `${i + 1}=${address}`).join(',');
  const nodes = LOCAL_NODE_ADDRESSES.map((_, i) =>
    spawn(
      process.execPath,
      [...nodeFlags(i + 1), path.join(root, 'dist/src/cli/main.js'), 'node', '--id', String(i + 1), '--peers', peers, '--data-dir', path.join(dir, `n${i + 1}`), '--cluster-id', clusterId, '--log-level', 'warn'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    ),
  );
  const running = () => nodes.filter((n) => n.exitCode === null && n.signalCode === null);
  return {
    nodes,
    async stop() {
      const exits = running().map((n) => new Promise((resolve) => n.once('exit', resolve)));
      for (const n of running()) n.kill('SIGTERM');
      await Promise.all(exits);
    },
  };
}

/** Retries one write until the cluster has elected a leader and answers (about 20 s at most). */
export async function waitForWrites(client) {
  for (let tries = 0; ; tries++) {
    try {
      await client.create({ clientId: 'warmup', transport: 'http' });
      return;
    } catch (error) {
      if (tries > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
