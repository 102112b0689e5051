import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { estimateMemory, readGgufInfo, type GgufInfo } from '../../src/hardware/index.ts'
import { writeGguf, type WriterTensor } from './gguf-writer.ts'
import { writeTinyLlama, type TinyLlamaOptions } from './tiny-llama.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-estimate-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const MIB = 1024 * 1024
let n = 0
async function model(o: TinyLlamaOptions): Promise<GgufInfo> {
  const path = join(dir, `m${n++}.gguf`)
  await writeTinyLlama(path, o)
  return readGgufInfo(path)
}

describe('estimateMemory: weights and KV cache', () => {
  it('counts the weights as the sum of tensor bytes', async () => {
    const info = await model({})
    expect(estimateMemory(info, { ctx: 1024 }).weightsBytes).toBe(info.tensorBytes)
  })

  it('sizes the KV cache as layers × cells × (K + V rows) in f16', async () => {
    const info = await model({ embd: 64, layers: 2, heads: 4 })
    // 2 layers × 1024 cells × (64 + 64) × 2 bytes, as llama-server logs "KV buffer size = 0.50 MiB".
    expect(estimateMemory(info, { ctx: 1024, parallel: 1 }).kvBytes).toBe(0.5 * MIB)
  })

  it('uses the KV heads, not the query heads, for grouped-query attention', async () => {
    const info = await model({ embd: 256, layers: 4, heads: 8, headsKv: 2 })
    // head dim 32 × 2 kv heads = 64 per row.
    expect(estimateMemory(info, { ctx: 4096, parallel: 1 }).kvBytes).toBe(4 * 4096 * (64 + 64) * 2)
  })

  it('pads the context to 256 cells, and per slot when slots do not share a cache', async () => {
    const info = await model({})
    const row = 2 * (64 + 64) * 2
    expect(estimateMemory(info, { ctx: 1000, parallel: 1 })).toMatchObject({ nCtx: 1024, kvBytes: 1024 * row })
    // -c 256 -np 2 without --kv-unified: pad256(256 / 2) = 256 cells per slot, 512 in all.
    expect(estimateMemory(info, { ctx: 256, parallel: 2 })).toMatchObject({ nCtx: 512, nCtxSeq: 256, kvUnified: false, kvBytes: 512 * row })
    // The same with a unified cache: -c is the total, shared.
    expect(estimateMemory(info, { ctx: 256, parallel: 2, kvUnified: true })).toMatchObject({ nCtx: 256, nCtxSeq: 256, kvBytes: 256 * row })
  })

  it('follows llama-server defaults: trained context, 4 slots sharing one cache', async () => {
    const info = await model({ ctxTrain: 2048 })
    expect(estimateMemory(info, {})).toMatchObject({ nCtx: 2048, nCtxSeq: 2048, nParallel: 4, kvUnified: true })
  })

  it('sizes quantized caches by their block size', async () => {
    const info = await model({ embd: 64, layers: 2, heads: 4 })
    // q8_0: 34 bytes per 32 values; q4_0: 18 per 32.
    expect(estimateMemory(info, { ctx: 1024, parallel: 1, cacheTypeK: 'q8_0', cacheTypeV: 'q4_0' }).kvBytes).toBe(2 * 1024 * ((64 / 32) * 34 + (64 / 32) * 18))
    expect(() => estimateMemory(info, { ctx: 1024, cacheTypeK: 'q7_z' })).toThrow('unknown KV cache type "q7_z"')
  })
})

describe('estimateMemory: compute buffer', () => {
  // `CPU compute buffer size` (MiB) that llama-server (de3ff815ea7d, CPU) logged for these
  // shapes at -np 1; see the formula in src/hardware/estimate.ts.
  const measured: [TinyLlamaOptions, 'on' | 'off', number, number, number][] = [
    [{ embd: 64, ff: 128, heads: 4 }, 'on', 512, 256, 0.63],
    [{ embd: 64, ff: 128, heads: 4 }, 'on', 512, 4096, 5.01],
    [{ embd: 64, ff: 128, heads: 4 }, 'on', 128, 4096, 1.25],
    [{ embd: 64, ff: 128, heads: 4 }, 'off', 512, 4096, 40.88],
    [{ embd: 256, ff: 128, heads: 4 }, 'on', 512, 4096, 7.26],
    [{ embd: 256, ff: 128, heads: 4 }, 'off', 512, 4096, 43.51],
    [{ embd: 64, ff: 1024, heads: 4 }, 'on', 512, 4096, 10.51],
    [{ embd: 64, ff: 1024, heads: 4 }, 'off', 128, 256, 1.78],
    [{ embd: 64, ff: 128, heads: 16 }, 'off', 512, 4096, 136.88],
    [{ embd: 256, ff: 512, heads: 8, headsKv: 2, layers: 4, extraTokens: 2000 }, 'on', 512, 4096, 8.51],
    [{ embd: 256, ff: 512, heads: 8, headsKv: 2, layers: 4, extraTokens: 2000 }, 'off', 512, 4096, 74.76],
    [{ embd: 256, ff: 512, heads: 8, headsKv: 2, layers: 4, extraTokens: 2000 }, 'off', 128, 256, 1.81],
  ]
  // The formula is fitted to real-size graphs; on toy models ggml's allocator packs a few
  // small tensors tighter, so there it may over-estimate by up to a fifth (never under).
  it.each(measured)('is close to the real server for %o, flash attention %s, ubatch %i, ctx %i', async (shape, fa, ub, ctx, realMib) => {
    const info = await model(shape)
    const e = estimateMemory(info, { ctx, parallel: 1, flashAttn: fa, ubatch: ub })
    expect(e.computeBytes / MIB / realMib).toBeGreaterThan(0.97)
    expect(e.computeBytes / MIB / realMib).toBeLessThan(1.2)
  })

  // Real-size llama shapes (header-only files: the estimate never reads tensor data). The
  // server figures come from the same build loading sparse files of these shapes on CPU.
  const shapes = {
    'qwen2-0.5b-like F16 (896 wide, 14/2 heads, 4864 ff, 24 layers, 151936 vocab)': { E: 896, H: 14, Hkv: 2, F: 4864, L: 24, V: 151_936, type: 1 },
    'llama-3-8b-like Q4_K (4096 wide, 32/8 heads, 14336 ff, 32 layers, 128256 vocab)': { E: 4096, H: 32, Hkv: 8, F: 14_336, L: 32, V: 128_256, type: 12 },
  } as const
  const real: [keyof typeof shapes, { ctx: number; parallel?: number; flashAttn?: 'off' }, number, number, number][] = [
    ['qwen2-0.5b-like F16 (896 wide, 14/2 heads, 4864 ff, 24 layers, 151936 vocab)', { ctx: 4096, parallel: 1 }, 1201.98, 48, 39.51],
    ['qwen2-0.5b-like F16 (896 wide, 14/2 heads, 4864 ff, 24 layers, 151936 vocab)', { ctx: 8192 }, 1201.98, 96, 43.51],
    ['qwen2-0.5b-like F16 (896 wide, 14/2 heads, 4864 ff, 24 layers, 151936 vocab)', { ctx: 8192, parallel: 2 }, 1201.98, 96, 39.51],
    ['qwen2-0.5b-like F16 (896 wide, 14/2 heads, 4864 ff, 24 layers, 151936 vocab)', { ctx: 4096, parallel: 1, flashAttn: 'off' }, 1201.98, 48, 129.26],
    ['llama-3-8b-like Q4_K (4096 wide, 32/8 heads, 14336 ff, 32 layers, 128256 vocab)', { ctx: 4096, parallel: 1 }, 4437.8, 512, 120.01],
    ['llama-3-8b-like Q4_K (4096 wide, 32/8 heads, 14336 ff, 32 layers, 128256 vocab)', { ctx: 8192 }, 4437.8, 1024, 124.01],
    ['llama-3-8b-like Q4_K (4096 wide, 32/8 heads, 14336 ff, 32 layers, 128256 vocab)', { ctx: 4096, parallel: 1, flashAttn: 'off' }, 4437.8, 512, 308.01],
  ]
  const writeShape = async (name: keyof typeof shapes): Promise<GgufInfo> => {
    const s = shapes[name]
    const path = join(dir, `shape-${n++}.gguf`)
    const size: Record<number, [number, number]> = { 0: [1, 4], 1: [1, 2], 12: [256, 144], 14: [256, 210] }
    const t = (tname: string, dims: number[], type: number = s.type): WriterTensor => {
      const [block, bytes] = size[type]!
      return { name: tname, dims, type, bytes: (dims.reduce((a, b) => a * b, 1) / block) * bytes }
    }
    const hd = s.E / s.H
    const tensors = [t('token_embd.weight', [s.E, s.V]), t('output_norm.weight', [s.E], 0), t('output.weight', [s.E, s.V], s.type === 12 ? 14 : s.type)]
    for (let b = 0; b < s.L; b++) {
      tensors.push(
        t(`blk.${b}.attn_norm.weight`, [s.E], 0),
        t(`blk.${b}.attn_q.weight`, [s.E, s.E]),
        t(`blk.${b}.attn_k.weight`, [s.E, hd * s.Hkv]),
        t(`blk.${b}.attn_v.weight`, [s.E, hd * s.Hkv]),
        t(`blk.${b}.attn_output.weight`, [s.E, s.E]),
        t(`blk.${b}.ffn_norm.weight`, [s.E], 0),
        t(`blk.${b}.ffn_gate.weight`, [s.E, s.F]),
        t(`blk.${b}.ffn_up.weight`, [s.E, s.F]),
        t(`blk.${b}.ffn_down.weight`, [s.F, s.E]),
      )
    }
    await writeGguf(path, {
      withData: false,
      tensors,
      metadata: {
        'general.architecture': { type: 'string', value: 'llama' },
        'llama.context_length': { type: 'u32', value: 8192 },
        'llama.embedding_length': { type: 'u32', value: s.E },
        'llama.block_count': { type: 'u32', value: s.L },
        'llama.feed_forward_length': { type: 'u32', value: s.F },
        'llama.attention.head_count': { type: 'u32', value: s.H },
        'llama.attention.head_count_kv': { type: 'u32', value: s.Hkv },
        'llama.vocab_size': { type: 'u32', value: s.V },
      },
    })
    return readGgufInfo(path)
  }
  it.each(real)('matches the real server within 1 percent for %s with %o', async (name, options, weightsMib, kvMib, computeMib) => {
    const e = estimateMemory(await writeShape(name), options)
    // For Q4_K the server logs CPU_REPACK 3744.00 MiB (the layer matrices, repacked) beside a
    // CPU_Mapped line that spans a file range; 3744.00 + token_embd 281.81 + output 410.98
    // + norms 1.02 = 4437.81, the figure used here.
    expect(Math.abs(e.weightsBytes / MIB - weightsMib)).toBeLessThan(0.01)
    expect(e.kvBytes / MIB).toBe(kvMib)
    expect(Math.abs(e.computeBytes / MIB - computeMib) / computeMib).toBeLessThan(0.01)
  })

  it('puts the Q4_K layers in CPU_REPACK on AVX2, and layers and output in AMX tiles on AMX', async () => {
    const info = await writeShape('llama-3-8b-like Q4_K (4096 wide, 32/8 heads, 14336 ff, 32 layers, 128256 vocab)')
    const o = { ctx: 4096, parallel: 1, nGpuLayers: 0 }
    const avx2 = estimateMemory(info, { ...o, cpu: { amx: false, avx2: true, avx512: false, armDotprod: false } })
    // CPU_REPACK 3744.00 MiB as the server logged it on an AVX2 CPU; CPU_Mapped spans the file
    // up to blk.31.ffn_norm (all but the last three matrices), though it keeps only 693.8 MiB.
    expect(avx2.hostWeightBuffers.map((b) => [b.name, b.bytes / MIB])).toEqual([
      ['CPU_REPACK', 3744],
      ['CPU_Mapped', expect.closeTo(4343.3, 1) as number],
    ])
    expect(Math.abs(avx2.weightsBytes / MIB - 4437.8)).toBeLessThan(0.01)
    // AMX: Q4_K tiles of 148 bytes a block (3744 × 148/144 = 3848 MiB), the Q6_K output as is.
    const amx = estimateMemory(info, { ...o, cpu: { amx: true, avx2: true, avx512: true, armDotprod: false } })
    expect(amx.hostWeightBuffers[0]).toMatchObject({ name: 'AMX', bytes: 3848 * MIB + 128_256 * 16 * 210 })
    expect(Math.abs(amx.weightsBytes / MIB - (3848 + 410.98 + 281.81 + 1.02))).toBeLessThan(0.01)
  })

  it('reserves for min(ctx, ubatch) tokens and caps the batch at the unpadded context', async () => {
    const info = await model({})
    expect(estimateMemory(info, { ctx: 100, parallel: 1 }).nUbatch).toBe(100)
    expect(estimateMemory(info, { ctx: 4096, parallel: 1, batch: 256, ubatch: 512 }).nUbatch).toBe(256)
    expect(estimateMemory(info, { ctx: 4096, parallel: 1, embedding: true, batch: 2048, ubatch: 1024 }).nUbatch).toBe(1024)
  })
})

describe('estimateMemory: device and host split', () => {
  it('puts everything but the token embeddings on the GPU when all layers are offloaded', async () => {
    const info = await model({})
    const e = estimateMemory(info, { ctx: 1024, parallel: 1 })
    const embd = info.tensors.find((t) => t.name === 'token_embd.weight')!
    const embdBytes = embd.dims[0]! * embd.dims[1]! * 2
    // No output.weight: llama.cpp loads token_embd again for the output layer, on the GPU.
    expect(e.deviceBytes).toBe(e.totalBytes)
    expect(e.hostBytes).toBe(embdBytes)
  })

  it('keeps the first layers and their KV on the host with a partial -ngl', async () => {
    const info = await model({ layers: 4 })
    const all = estimateMemory(info, { ctx: 1024, parallel: 1 })
    // -ngl 2 of 4 layers: blk.0 and blk.1 stay on the host (and the output layer still offloads).
    const part = estimateMemory(info, { ctx: 1024, parallel: 1, nGpuLayers: 2 })
    expect(part.hostBytes).toBeGreaterThan(all.hostBytes)
    expect(part.deviceBytes + part.hostBytes).toBe(all.deviceBytes + all.hostBytes)
    const none = estimateMemory(info, { ctx: 1024, parallel: 1, nGpuLayers: 0 })
    expect(none).toMatchObject({ deviceBytes: 0, hostBytes: none.totalBytes })
  })

  it('keeps the KV cache on the host with --no-kv-offload', async () => {
    const info = await model({})
    const e = estimateMemory(info, { ctx: 1024, parallel: 1, kvOffload: false })
    expect(e.hostBytes).toBeGreaterThanOrEqual(e.kvBytes)
  })
})
