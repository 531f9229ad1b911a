import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `joinflow-source` (package.json's `exports`): the workflows' and handlers' `import ... from
  // 'joinflow'` get the sources the tests import, not the compiled copy in dist/ that plain Node
  // gets; one module graph, so the tests' `instanceof` and the engine's see the same classes.
  // The others are vite's defaults (its defaultServerConditions), which setting the list replaces,
  // less `module`: vitest passes the list on as --conditions to its processes (and so to handler
  // worker threads), where Node itself then resolved @aws-sdk/core to its extensionless dist-es.
  ssr: { resolve: { conditions: ['node', 'development|production', 'joinflow-source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    setupFiles: ['test/helpers/yield-between-tests.ts'],
  },
});
