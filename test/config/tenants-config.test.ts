import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { errorOf, tempDir, type TempDir } from './helpers.ts'

describe('the tenants config', () => {
  let tmp: TempDir
  beforeEach(async () => {
    tmp = await tempDir()
  })
  afterEach(() => tmp.remove())

  it('defaults to no admin keys, a one-minute rate window and 50 ms counter pushes', async () => {
    const config = await loadConfig({ env: { HERD_HOME: tmp.dir, HOME: tmp.dir } })
    expect(config.http.admin_keys).toEqual([])
    expect(config.tenants).toEqual({ currency: 'usd', cost_per_hour: 0, rate_window_ms: 60_000, counter_push_ms: 50 })
  })

  it('takes admin keys and the window from the file and the environment', async () => {
    const file = await tmp.write('config.yaml', 'http:\n  admin_keys: [root-key]\ntenants:\n  rate_window_ms: 6000\n')
    const config = await loadConfig({ file, env: { HERD_HOME: tmp.dir, HOME: tmp.dir, HERD_TENANTS__COUNTER_PUSH_MS: '20' } })
    expect(config.http.admin_keys).toEqual(['root-key'])
    expect(config.tenants).toEqual({ currency: 'usd', cost_per_hour: 0, rate_window_ms: 6000, counter_push_ms: 20 })
  })

  it('refuses a rate window too short to cut into buckets, naming the key', async () => {
    const file = await tmp.write('config.yaml', 'tenants:\n  rate_window_ms: 100\n')
    const err = await errorOf(() => loadConfig({ file, env: { HERD_HOME: tmp.dir, HOME: tmp.dir } }))
    expect(err.message).toMatch(/tenants\.rate_window_ms/)
  })
})
