import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { errorOf, tempDir, type TempDir } from './helpers.ts'

describe('environment overrides', () => {
  let tmp: TempDir
  let base: NodeJS.ProcessEnv
  beforeEach(async () => {
    tmp = await tempDir()
    base = { HERD_HOME: tmp.dir, HOME: tmp.dir }
  })
  afterEach(() => tmp.remove())

  it('set nested keys as HERD_<SECTION>__<KEY>, coerced to the key type', async () => {
    const config = await loadConfig({
      env: {
        ...base,
        HERD_HTTP__LISTEN: '0.0.0.0:9000',
        HERD_HTTP__BODY_LIMIT_BYTES: '1024',
        HERD_MESH__ENABLED: 'true',
        HERD_MESH__MDNS: 'off',
        HERD_NODE__NAME: 'beta',
      },
    })
    expect(config.http.listen).toBe('0.0.0.0:9000')
    expect(config.http.body_limit_bytes).toBe(1024)
    expect(config.mesh.enabled).toBe(true)
    expect(config.mesh.mdns).toBe(false)
    expect(config.node.name).toBe('beta')
  })

  it('win over the config file', async () => {
    const file = await tmp.write('config.yaml', 'http:\n  listen: 127.0.0.1:1000\nmesh:\n  peers: [x]\n')
    const config = await loadConfig({ env: { ...base, HERD_HTTP__LISTEN: '127.0.0.1:2000' }, file })
    expect(config.http.listen).toBe('127.0.0.1:2000')
    expect(config.mesh.peers).toEqual(['x'])
  })

  it('read lists as comma-separated values', async () => {
    const config = await loadConfig({ env: { ...base, HERD_MESH__PEERS: '/ip4/10.0.0.2/tcp/7946, /ip4/10.0.0.3/tcp/7946' } })
    expect(config.mesh.peers).toEqual(['/ip4/10.0.0.2/tcp/7946', '/ip4/10.0.0.3/tcp/7946'])
  })

  it('read lists as JSON arrays', async () => {
    const config = await loadConfig({ env: { ...base, HERD_HTTP__API_KEYS: '["a,b", "c"]' } })
    expect(config.http.api_keys).toEqual(['a,b', 'c'])
  })

  it('read booleans such as HERD_HTTP__METRICS_AUTH', async () => {
    const config = await loadConfig({ env: { ...base, HERD_HTTP__METRICS_AUTH: 'true' } })
    expect(config.http.metrics_auth).toBe(true)
  })

  it('read an empty list from an empty value', async () => {
    const config = await loadConfig({ env: { ...base, HERD_MESH__LISTEN: '' } })
    expect(config.mesh.listen).toEqual([])
  })

  it('set top-level keys as HERD_<KEY>', async () => {
    const config = await loadConfig({ env: { ...base, HERD_LOG_LEVEL: 'debug', HERD_COOKBOOK: 'mine.yaml' }, cwd: '/srv' })
    expect(config.log_level).toBe('debug')
    expect(config.cookbook).toBe('/srv/mine.yaml')
  })

  it('resolve a path from the environment against the working folder, not the config file', async () => {
    const file = await tmp.write('config.yaml', 'cookbook: from-file.yaml\n')
    const config = await loadConfig({ env: { ...base, HERD_MESH__SECRET_FILE: 'cluster.key' }, file, cwd: '/srv' })
    expect(config.mesh.secret_file).toBe('/srv/cluster.key')
    expect(config.cookbook).toBe(join(tmp.dir, 'from-file.yaml'))
  })

  it('set nullable keys to null with "null" and to numbers otherwise', async () => {
    const file = await tmp.write('config.yaml', 'resources:\n  max_vram_mb: 4000\n')
    const config = await loadConfig({ env: { ...base, HERD_RESOURCES__MAX_VRAM_MB: 'null', HERD_RESOURCES__MAX_SYSMEM_MB: '8000' }, file })
    expect(config.resources.max_vram_mb).toBeNull()
    expect(config.resources.max_sysmem_mb).toBe(8000)
  })

  it('leave HERD_HOME and unrelated HERD_ variables alone', async () => {
    const config = await loadConfig({ env: { ...base, HERD_SOMETHING_ELSE: 'x' } })
    expect(config.home).toBe(tmp.dir)
  })

  it('fail naming the variable when a number is not a number', async () => {
    const err = await errorOf(() => loadConfig({ env: { ...base, HERD_HTTP__BODY_LIMIT_BYTES: 'lots' } }))
    expect(err.code).toBe('config_invalid')
    expect(err.message).toBe('HERD_HTTP__BODY_LIMIT_BYTES: expected a number, got "lots"')
  })

  it('fail naming the variable when a boolean is not a boolean', async () => {
    const err = await errorOf(() => loadConfig({ env: { ...base, HERD_MESH__ENABLED: 'maybe' } }))
    expect(err.message).toBe('HERD_MESH__ENABLED: expected a boolean (true or false), got "maybe"')
  })

  it('fail naming the variable when the value breaks a schema rule', async () => {
    const err = await errorOf(() => loadConfig({ env: { ...base, HERD_HTTP__BODY_LIMIT_BYTES: '-5', HERD_LOG_LEVEL: 'loud' } }))
    expect(err.message).toMatch(/HERD_HTTP__BODY_LIMIT_BYTES: .*>0/)
    expect(err.message).toContain('HERD_LOG_LEVEL: ')
  })

  it('fail on a malformed JSON array', async () => {
    const err = await errorOf(() => loadConfig({ env: { ...base, HERD_MESH__PEERS: '[oops' } }))
    expect(err.message).toBe('HERD_MESH__PEERS: expected a JSON array or a comma-separated list, got "[oops"')
  })

  it('fail naming the list item when a JSON array holds the wrong type', async () => {
    const err = await errorOf(() => loadConfig({ env: { ...base, HERD_MESH__PEERS: '["a", 3]' } }))
    expect(err.message).toBe('HERD_MESH__PEERS: mesh.peers[1]: expected a string, got a number')
  })

  it('fail on an unknown key or section', async () => {
    expect((await errorOf(() => loadConfig({ env: { ...base, HERD_HTTP__LISEN: 'x' } }))).message).toBe('HERD_HTTP__LISEN: unknown key http.lisen')
    expect((await errorOf(() => loadConfig({ env: { ...base, HERD_HTPP__LISTEN: 'x' } }))).message).toBe('HERD_HTPP__LISTEN: unknown section htpp')
  })

  it('fail when a whole section is set at once', async () => {
    const err = await errorOf(() => loadConfig({ env: { ...base, HERD_HTTP: '{}' } }))
    expect(err.message).toBe('HERD_HTTP: http is a section; set HERD_HTTP__<KEY>')
  })
})
