import { defineConfig } from 'vitest/config';

// Three suites: unit (pure functions), api (in-process servers, seconds), e2e (real clients and
// the real data plane, minutes). `npm test` runs them all through scripts/test.mjs.
export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // A file's hooks start and stop whole clouds; on CI's two cores, beside the concurrent
      // Tempest lanes, that can take longer than Vitest's default 10 s.
      { extends: true, test: { name: 'api', include: ['test/api/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 60_000 } },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 600_000, fileParallelism: false },
      },
    ],
  },
});
