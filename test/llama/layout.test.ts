import { describe, expect, it } from 'vitest'
import { BASE_CMAKE_ARGS, buildKey, llamaLayout } from '../../src/llama/index.ts'
import { packageCacheName } from '../../src/llama/layout.ts'

const SHA = 'de3ff815ea7d559ee917f063901b8986f038abc6'

describe('buildKey', () => {
  it('is the first 12 hex digits of the commit when no cmake args are given', () => {
    expect(buildKey(SHA)).toBe('de3ff815ea7d')
    expect(buildKey(SHA, [])).toBe('de3ff815ea7d')
  })

  it('appends 8 hex digits of a hash of the cmake args when there are some', () => {
    const key = buildKey(SHA, ['-DGGML_CUDA=ON'])
    expect(key).toMatch(/^de3ff815ea7d-[0-9a-f]{8}$/)
    expect(buildKey(SHA, ['-DGGML_CUDA=ON'])).toBe(key)
  })

  it('gives different keys for different args, order, and word splitting', () => {
    const keys = new Set([buildKey(SHA, ['-DA=1', '-DB=2']), buildKey(SHA, ['-DB=2', '-DA=1']), buildKey(SHA, ['-DA=1 -DB=2']), buildKey(SHA, ['-DA=1'])])
    expect(keys.size).toBe(4)
  })

  it('lower-cases the commit and refuses something that is not a hash', () => {
    expect(buildKey(SHA.toUpperCase())).toBe('de3ff815ea7d')
    expect(() => buildKey('main')).toThrow(/not a commit hash/)
  })
})

describe('llamaLayout', () => {
  it('puts source, build tree and install under HERD_HOME/llama', () => {
    const l = llamaLayout('/h')
    expect(l.src(SHA)).toBe('/h/llama/src/de3ff815ea7d')
    expect(l.build('de3ff815ea7d-0a1b2c3d')).toBe('/h/llama/build/de3ff815ea7d-0a1b2c3d')
    expect(l.install('de3ff815ea7d')).toBe('/h/llama/de3ff815ea7d')
    expect(l.cache).toBe('/h/llama/cache')
  })

  it('names the cached bundle after the package spec', () => {
    expect(packageCacheName('node-llama-cpp@3.22.1')).toBe('node-llama-cpp@3.22.1')
    expect(packageCacheName('@scope/pkg@1.0.0')).toBe('scope_pkg@1.0.0')
  })

  it('builds a static llama-server that needs no network beyond the source', () => {
    // Static: the installed binary moves without its .so files. No prebuilt UI: no download from huggingface.co.
    expect(BASE_CMAKE_ARGS).toEqual(expect.arrayContaining(['-DBUILD_SHARED_LIBS=OFF', '-DLLAMA_USE_PREBUILT_UI=OFF', '-DLLAMA_CURL=OFF']))
  })
})
