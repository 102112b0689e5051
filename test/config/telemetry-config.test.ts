import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { errorOf, tempDir, type TempDir } from './helpers.ts'

describe('telemetry config', () => {
  let tmp: TempDir
  let env: NodeJS.ProcessEnv
  beforeEach(async () => {
    tmp = await tempDir()
    env = { HERD_HOME: tmp.dir, HOME: tmp.dir }
  })
  afterEach(() => tmp.remove())

  it('is off by default, named herd, keeping every trace when on', async () => {
    const config = await loadConfig({ env })
    expect(config.telemetry).toEqual({ otlp_endpoint: null, service_name: 'herd', sample_ratio: 1 })
  })

  it('takes an endpoint from the file or HERD_TELEMETRY__*', async () => {
    const file = await tmp.write('config.yaml', 'telemetry:\n  otlp_endpoint: http://127.0.0.1:4318\n  service_name: edge\n')
    const config = await loadConfig({ env: { ...env, HERD_TELEMETRY__SAMPLE_RATIO: '0.25' }, file })
    expect(config.telemetry).toEqual({ otlp_endpoint: 'http://127.0.0.1:4318', service_name: 'edge', sample_ratio: 0.25 })
    const fromEnv = await loadConfig({ env: { ...env, HERD_TELEMETRY__OTLP_ENDPOINT: 'https://collector.example:4318/otlp' } })
    expect(fromEnv.telemetry.otlp_endpoint).toBe('https://collector.example:4318/otlp')
  })

  it('refuses an endpoint that is not an http(s) URL, a ratio outside [0, 1] and unknown keys', async () => {
    for (const [yaml, key] of [
      ['telemetry:\n  otlp_endpoint: grpc://c:4317\n', /telemetry\.otlp_endpoint/],
      ['telemetry:\n  otlp_endpoint: not a url\n', /telemetry\.otlp_endpoint/],
      ['telemetry:\n  sample_ratio: 2\n', /telemetry\.sample_ratio/],
      ['telemetry:\n  endpoint: http://c\n', /telemetry/],
    ] as const) {
      const file = await tmp.write('bad.yaml', yaml)
      expect((await errorOf(() => loadConfig({ env, file }))).message).toMatch(key)
    }
  })
})
