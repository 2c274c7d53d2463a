import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration and chaos tests start real processes on fixed loopback ports; files run
    // in parallel only where their ports do not collide (each file picks its own range).
    pool: 'forks',
    reporters: ['default'],
  },
});
