import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ProfileSpec } from '../../src/config/types.ts'
import { isHerdError } from '../../src/errors/index.ts'
import { estimateOptionsOf, estimateProfile, GgufInfoCache, parseLaunchArgs } from '../../src/hardware/index.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'

describe('parseLaunchArgs', () => {
  it('reads short and long spellings of the memory options', () => {
    expect(parseLaunchArgs(['-c', '4096', '-np', '2', '-ctk', 'q8_0', '-ctv', 'q4_0', '-ngl', '20', '-b', '1024', '-ub', '256'])).toMatchObject({
      ctx: 4096,
      parallel: 2,
      cacheTypeK: 'q8_0',
      cacheTypeV: 'q4_0',
      nGpuLayers: 20,
      batch: 1024,
      ubatch: 256,
    })
    expect(
      parseLaunchArgs([
        '--ctx-size',
        '8192',
        '--parallel',
        '4',
        '--cache-type-k',
        'f16',
        '--cache-type-v',
        'q8_0',
        '--n-gpu-layers',
        '99',
        '--batch-size',
        '512',
        '--ubatch-size',
        '128',
      ]),
    ).toMatchObject({
      ctx: 8192,
      parallel: 4,
      cacheTypeK: 'f16',
      cacheTypeV: 'q8_0',
      nGpuLayers: 99,
      batch: 512,
      ubatch: 128,
    })
  })

  it('accepts --option=value forms', () => {
    expect(parseLaunchArgs(['--ctx-size=2048', '--parallel=3', '--gpu-layers=all'])).toMatchObject({ ctx: 2048, parallel: 3, nGpuLayers: -1 })
  })

  it('treats --embedding, --rerank and a pooling other than none as embedding mode', () => {
    expect(parseLaunchArgs(['--embedding']).embedding).toBe(true)
    expect(parseLaunchArgs(['--embeddings']).embedding).toBe(true)
    expect(parseLaunchArgs(['--reranking']).embedding).toBe(true)
    expect(parseLaunchArgs(['--pooling', 'mean']).embedding).toBe(true)
    expect(parseLaunchArgs(['--pooling', 'none']).embedding).toBeUndefined()
  })

  it('reads flash attention with or without its value', () => {
    expect(parseLaunchArgs(['-fa', 'off', '-c', '512'])).toMatchObject({ flashAttn: 'off', ctx: 512 })
    expect(parseLaunchArgs(['--flash-attn', '-c', '512'])).toMatchObject({ flashAttn: 'on', ctx: 512 })
    expect(parseLaunchArgs(['--flash-attn=auto']).flashAttn).toBe('auto')
  })

  it('reads placement and cache sharing options', () => {
    expect(parseLaunchArgs(['-ts', '3,1', '-sm', 'row', '-mg', '1', '-dev', 'CUDA0,CUDA1', '-kvu', '-nkvo'])).toMatchObject({
      tensorSplit: [3, 1],
      splitMode: 'row',
      mainGpu: 1,
      devices: ['CUDA0', 'CUDA1'],
      kvUnified: true,
      kvOffload: false,
    })
    expect(parseLaunchArgs(['--no-kv-unified']).kvUnified).toBe(false)
  })

  it('ignores options that do not change memory', () => {
    expect(parseLaunchArgs(['--temp', '0.7', '--jinja', '-t', '8', '--alias', 'x'])).toEqual({
      tensorSplit: undefined,
      splitMode: undefined,
      mainGpu: undefined,
      devices: undefined,
      model: undefined,
      noHost: false,
    })
  })

  it('reads the switches that decide where host weights go: repacking, the host buffer, mmap', () => {
    expect(parseLaunchArgs(['-nr'])).toMatchObject({ repack: false, noHost: false })
    expect(parseLaunchArgs(['--no-repack', '--repack']).repack).toBe(true)
    expect(parseLaunchArgs(['--no-host']).noHost).toBe(true)
    expect(parseLaunchArgs(['-lm', 'none']).mmap).toBe(false)
    expect(parseLaunchArgs(['--load-mode=mlock']).mmap).toBe(false)
    expect(parseLaunchArgs(['--load-mode', 'mmap+mlock']).mmap).toBe(true)
    expect(parseLaunchArgs(['--no-mmap']).mmap).toBe(false)
    expect(estimateOptionsOf(parseLaunchArgs(['--no-host', '-nr']))).toEqual({ repack: false })
  })

  it('says which option is malformed', () => {
    expect(() => parseLaunchArgs(['-c'])).toThrow('llama-server option -c needs a value')
    expect(() => parseLaunchArgs(['-c', 'lots'])).toThrow('llama-server option -c expects an integer, got "lots"')
  })
})

describe('estimateProfile', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-profile-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const profile = (modelPath: string | undefined, args: string[]): ProfileSpec => ({
    id: 'tiny:default',
    model: 'tiny',
    profile: 'default',
    description: undefined,
    modelPath,
    args,
    capabilities: { completion: true, embeddings: false, rerank: false },
    idleTimeoutMs: 1000,
    startupTimeoutMs: 1000,
    maxInstances: 1,
    maxQueueSize: 1,
    maxWaitInQueueMs: 1000,
    estimatedVramMb: undefined,
    estimatedSysmemMb: undefined,
    launchHash: 'h',
  })

  it('estimates from the model file and the profile args', async () => {
    const path = join(dir, 'tiny.gguf')
    await writeTinyGguf(path, { contextLength: 4096 })
    const r = await estimateProfile(profile(path, ['-c', '2048', '-np', '2']))
    expect(r?.estimate).toMatchObject({ nCtx: 2048, nParallel: 2, kvBytes: 2 * 2048 * 128 * 2 })
    expect(r?.info.architecture).toBe('llama')
  })

  it('reuses a cached header while the file is unchanged', async () => {
    const path = join(dir, 'cached.gguf')
    await writeTinyGguf(path)
    const cache = new GgufInfoCache()
    const a = await estimateProfile(profile(path, []), { cache })
    const b = await estimateProfile(profile(path, ['-c', '256']), { cache })
    expect(b?.info).toBe(a?.info)
  })

  it('counts the AMX copies on a CPU-only node with AMX, and not on a GPU node', async () => {
    const path = join(dir, 'amx.gguf')
    await writeTinyGguf(path, { embeddingLength: 256 })
    const amx = { amx: true, avx2: true, avx512: true, armDotprod: false }
    const cpuNode = await estimateProfile(profile(path, ['-c', '256', '-np', '1']), { gpu: false, cpu: amx })
    const gpuNode = await estimateProfile(profile(path, ['-c', '256', '-np', '1', '-ngl', '0']), { gpu: true, cpu: amx })
    expect(cpuNode?.estimate.hostWeightBuffers.map((b) => [b.name, b.bytes])).toEqual([
      ['AMX', 2.5 * 1024 * 1024],
      ['CPU_Mapped', 1976832],
    ])
    expect(gpuNode?.estimate.hostWeightBuffers.map((b) => b.name)).toEqual(['CPU_Mapped'])
  })

  it('has nothing to say for a profile that downloads its model', async () => {
    expect(await estimateProfile(profile(undefined, ['-hf', 'org/repo']))).toBeUndefined()
  })

  it('throws model_file_missing for a model file that is not there', async () => {
    const err: unknown = await estimateProfile(profile(join(dir, 'nope.gguf'), [])).catch((e: unknown) => e)
    expect(isHerdError(err) && err.code).toBe('model_file_missing')
  })
})
