import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { errorOf, tempDir, type TempDir } from './helpers.ts'

describe('cache config', () => {
  let tmp: TempDir
  let env: NodeJS.ProcessEnv
  beforeEach(async () => {
    tmp = await tempDir()
    env = { HERD_HOME: tmp.dir, HOME: tmp.dir }
  })
  afterEach(() => tmp.remove())

  it('is off by default, with a modest size and no semantic matching', async () => {
    const config = await loadConfig({ env })
    expect(config.cache).toEqual({
      enabled: false,
      max_bytes: 64 * 1024 * 1024,
      max_entry_bytes: 1024 * 1024,
      ttl_seconds: 3600,
      shared: false,
      semantic: null,
    })
  })

  it('takes the semantic block with its defaults, and HERD_CACHE__* overrides', async () => {
    const file = await tmp.write('config.yaml', 'cache:\n  enabled: true\n  semantic:\n    embedding_model: embed\n')
    const config = await loadConfig({ env: { ...env, HERD_CACHE__SHARED: 'true', HERD_CACHE__MAX_BYTES: '1000' }, file })
    expect(config.cache).toMatchObject({ enabled: true, shared: true, max_bytes: 1000 })
    expect(config.cache.semantic).toEqual({ embedding_model: 'embed', threshold: 0.95, max_entries: 1000, timeout_ms: 2000 })
  })

  it('refuses unknown keys and a threshold outside (0, 1]', async () => {
    const unknown = await tmp.write('a.yaml', 'cache:\n  enable: true\n')
    expect((await errorOf(() => loadConfig({ env, file: unknown }))).message).toMatch(/cache/)
    const threshold = await tmp.write('b.yaml', 'cache:\n  semantic: { embedding_model: e, threshold: 1.5 }\n')
    expect((await errorOf(() => loadConfig({ env, file: threshold }))).message).toMatch(/cache\.semantic\.threshold/)
  })
})
