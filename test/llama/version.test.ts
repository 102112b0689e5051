import { describe, expect, it } from 'vitest'
import { parseLlamaVersion } from '../../src/llama/index.ts'

describe('parseLlamaVersion', () => {
  it('reads the release, build number and commit that current llama-server prints', () => {
    const out = '0.00.000.411 I srv  llama_server: initializing ...\nversion: 0.5.0-dev (build 1, commit de3ff81)\nbuilt with GNU 12.2.0 for Linux x86_64\n'
    expect(parseLlamaVersion(out)).toEqual({ release: '0.5.0-dev', build: 1, commit: 'de3ff81', text: '0.5.0-dev (build 1, commit de3ff81)' })
  })

  it('reads the older "version: N (commit)" form', () => {
    expect(parseLlamaVersion('version: 4589 (abc1234)\nbuilt with cc for x86_64')).toEqual({
      release: null,
      build: 4589,
      commit: 'abc1234',
      text: '4589 (abc1234)',
    })
  })

  it('finds the version line after backend logs such as a CUDA device list', () => {
    const out = 'ggml_cuda_init: found 1 CUDA devices:\n  Device 0: NVIDIA H100, compute capability 9.0\nversion: 7000 (0123abc)\n'
    expect(parseLlamaVersion(out)?.build).toBe(7000)
  })

  it('returns null when there is no version line', () => {
    expect(parseLlamaVersion('error: unknown argument --version')).toBeNull()
    expect(parseLlamaVersion('')).toBeNull()
  })
})
