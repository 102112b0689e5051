import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { errorOf, tempDir, type TempDir } from './helpers.ts'

describe('loadConfig', () => {
  let tmp: TempDir
  let env: NodeJS.ProcessEnv
  beforeEach(async () => {
    tmp = await tempDir()
    env = { HERD_HOME: tmp.dir, HOME: tmp.dir }
  })
  afterEach(() => tmp.remove())

  it('returns the defaults when there is no config file', async () => {
    const config = await loadConfig({ env, cwd: '/srv' })
    expect(config.file).toBeUndefined()
    expect(config.home).toBe(tmp.dir)
    expect(config.node.name).toBe(hostname())
    expect(config.http).toEqual({
      listen: '127.0.0.1:8080',
      api_keys: [],
      admin_keys: [],
      metrics_auth: false,
      body_limit_bytes: 16 * 1024 * 1024,
      drain_timeout_ms: 30_000,
      cors_origins: [],
      tls: null,
    })
    expect(config.mesh.enabled).toBe(false)
    expect(config.mesh.listen).toEqual(['/ip4/0.0.0.0/tcp/7946'])
    expect(config.mesh.secret_file).toBeNull()
    expect(config.llama.server).toBe('auto')
    expect(config.resources.nvidia_smi).toBe('nvidia-smi')
    expect(config.log_level).toBe('info')
    expect(config.cookbook).toBe('/srv/cookbook.yaml')
  })

  it('defaults HERD_HOME to ~/.herd under HOME', async () => {
    const config = await loadConfig({ env: { HOME: tmp.dir }, cwd: '/srv' })
    expect(config.home).toBe(join(tmp.dir, '.herd'))
  })

  it('expands ~ in HERD_HOME', async () => {
    const config = await loadConfig({ env: { HOME: tmp.dir, HERD_HOME: '~/elsewhere' } })
    expect(config.home).toBe(join(tmp.dir, 'elsewhere'))
  })

  it('reads HERD_HOME/config.yaml when it exists and resolves the cookbook against its folder', async () => {
    const file = await tmp.write('config.yaml', 'node:\n  name: alpha\ncookbook: books\n')
    const config = await loadConfig({ env, cwd: '/srv' })
    expect(config.file).toBe(file)
    expect(config.node.name).toBe('alpha')
    expect(config.cookbook).toBe(join(tmp.dir, 'books'))
  })

  it('prefers the --config file over HERD_HOME/config.yaml', async () => {
    await tmp.write('config.yaml', 'log_level: warn\n')
    const other = await tmp.write('other.yaml', 'log_level: debug\n')
    const config = await loadConfig({ env, file: other })
    expect(config.file).toBe(other)
    expect(config.log_level).toBe('debug')
  })

  it('treats an empty file as all defaults', async () => {
    const file = await tmp.write('empty.yaml', '# nothing here\n')
    const config = await loadConfig({ env, file })
    expect(config.http.listen).toBe('127.0.0.1:8080')
    expect(config.cookbook).toBe(join(tmp.dir, 'cookbook.yaml'))
  })

  it('resolves secret_file and a llama.server path against the config folder, but keeps bare commands', async () => {
    const file = await tmp.write('config.yaml', 'mesh:\n  secret_file: secret.key\nllama:\n  server: bin/llama-server\nresources:\n  nvidia_smi: nvidia-smi\n')
    const config = await loadConfig({ env, file })
    expect(config.mesh.secret_file).toBe(join(tmp.dir, 'secret.key'))
    expect(config.llama.server).toBe(join(tmp.dir, 'bin/llama-server'))
    expect(config.resources.nvidia_smi).toBe('nvidia-smi')
  })

  it('fails naming the file when --config does not exist', async () => {
    const err = await errorOf(() => loadConfig({ env, file: join(tmp.dir, 'missing.yaml') }))
    expect(err.code).toBe('config_invalid')
    expect(err.message).toContain('missing.yaml: file not found')
  })

  it('fails naming the key and the file on an unknown key', async () => {
    const file = await tmp.write('config.yaml', 'http:\n  lisen: 0.0.0.0:9000\n')
    const err = await errorOf(() => loadConfig({ env, file }))
    expect(err.code).toBe('config_invalid')
    expect(err.message).toBe(`${file}: http.lisen: unknown key`)
  })

  it('fails naming an unknown top-level key', async () => {
    const file = await tmp.write('config.yaml', 'htp:\n  listen: 0.0.0.0:9000\n')
    const err = await errorOf(() => loadConfig({ env, file }))
    expect(err.message).toBe(`${file}: htp: unknown key`)
  })

  it('fails naming the key on a wrong type', async () => {
    const file = await tmp.write('config.yaml', 'mesh:\n  enabled: sometimes\n  peers: [1.2.3.4, 7]\n')
    const err = await errorOf(() => loadConfig({ env, file }))
    expect(err.code).toBe('config_invalid')
    expect(err.message).toContain(`${file}: mesh.enabled: expected a boolean (true or false), got a string`)
    expect(err.message).toContain(`${file}: mesh.peers[1]: expected a string, got a number`)
  })

  it('fails naming the file on invalid YAML', async () => {
    const file = await tmp.write('config.yaml', 'http:\n  listen: [unclosed\n')
    const err = await errorOf(() => loadConfig({ env, file }))
    expect(err.message).toContain(`${file}: invalid YAML`)
  })

  it('fails when the top level is not a mapping', async () => {
    const file = await tmp.write('config.yaml', '- a\n- b\n')
    const err = await errorOf(() => loadConfig({ env, file }))
    expect(err.message).toBe(`${file}: expected a mapping of keys at the top level`)
  })

  it('lets command-line values win over the environment and the file', async () => {
    const file = await tmp.write('config.yaml', 'http:\n  listen: 127.0.0.1:1000\n  api_keys: [k1]\n')
    const config = await loadConfig({
      env: { ...env, HERD_HTTP__LISTEN: '127.0.0.1:2000' },
      file,
      argvOverrides: { http: { listen: '127.0.0.1:3000' } },
    })
    expect(config.http.listen).toBe('127.0.0.1:3000')
    expect(config.http.api_keys).toEqual(['k1'])
  })

  it('names the command line when a flag value is invalid', async () => {
    const err = await errorOf(() => loadConfig({ env, argvOverrides: { http: { listen: 'nowhere' } } }))
    expect(err.message).toBe('command line: http.listen: expected host:port')
  })

  it('returns a deeply frozen config', async () => {
    const config = await loadConfig({ env })
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.http)).toBe(true)
    expect(Object.isFrozen(config.mesh.listen)).toBe(true)
    expect(() => (config.mesh.listen as string[]).push('x')).toThrow()
  })
})
