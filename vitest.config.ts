import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Finds (or, on a fresh machine, builds) the real llama-server once, before any test file
    // runs; rebuilds dist/ (what bin/herd runs) if the source is newer.
    globalSetup: ['test/helpers/llama-server.ts', 'test/helpers/dist.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Several suites spawn real processes; a little parallelism, not a stampede on 2 cores.
    maxWorkers: 2,
    // node:sqlite (the tenant key store) warns that it is experimental; bin/herd hides it the same way.
    execArgv: ['--disable-warning=ExperimentalWarning'],
  },
})
