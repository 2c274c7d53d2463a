import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/close-leaves-no-handles.ts', import.meta.url));

it('close() leaves no handles: a process that used two transports exits on its own', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(killer);
  expect(stderr).toBe('');
  expect(code).toBe(0); // null if it had to be killed: something kept the event loop alive
  expect(JSON.parse(stdout.trim())).toEqual({ received: 3, snapshotOk: true });
}, 30_000);
