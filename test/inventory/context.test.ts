/** The node budget a discovered model's context is sized to, on GPU and CPU nodes. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readGgufInfo, type GgufInfo } from '../../src/hardware/index.ts'
import { estimateFor, fitContext, nodeBudget } from '../../src/inventory/index.ts'
import { writeTinyGguf } from './helpers.ts'

let dir: string
let info: GgufInfo
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-context-'))
  info = await readGgufInfo((await writeTinyGguf(join(dir, 'long.gguf'), { contextLength: 131072, embeddingLength: 256 })).path)
})
afterAll(() => rm(dir, { recursive: true, force: true }))

describe('nodeBudget', () => {
  it('is the largest GPU less its margin and memory less its margin, under the config caps', () => {
    expect(nodeBudget([{ totalMb: 24_576 }, { totalMb: 81_920 }], 131_072, { maxVramMb: null, maxSysmemMb: null })).toEqual({
      gpu: true,
      vramMb: 81_920 - 512,
      sysmemMb: 131_072 - 512,
      cpu: undefined,
    })
    expect(nodeBudget([{ totalMb: 8192 }], 4096, { maxVramMb: 6000, maxSysmemMb: 2000 })).toMatchObject({ vramMb: 6000, sysmemMb: 2000 })
    expect(nodeBudget([], 4096, { maxVramMb: 6000, maxSysmemMb: null })).toMatchObject({ gpu: false, vramMb: null, sysmemMb: 4096 - 205 })
  })
})

describe('fitContext on a GPU node', () => {
  it('fits the KV cache into VRAM: the whole trained context on a big GPU, less on a small one', () => {
    const big = nodeBudget([{ totalMb: 81_920 }], 131_072, { maxVramMb: null, maxSysmemMb: null })
    expect(fitContext(info, big)).toBe(131072)
    // 320 MiB of CUDA context plus a 2 KiB-a-token F16 KV cache: 400 MiB of VRAM holds about 40k tokens.
    const small = { ...big, vramMb: 400 }
    const ctx = fitContext(info, small)
    expect(ctx).toBeLessThan(131072)
    expect(ctx).toBeGreaterThan(2048)
    expect(estimateFor(info, ['-c', String(ctx)], small).vramMb).toBeLessThanOrEqual(400)
    expect(estimateFor(info, ['-c', String(ctx + 256)], small).vramMb).toBeGreaterThan(400)
  })
})
