import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  estimateMemory,
  extraBufferOf,
  hostWeightBuffers,
  NO_CPU_FEATURES,
  nodeEstimateOptions,
  parseLaunchArgs,
  readGgufInfo,
  weightOp,
  type CpuFeatures,
  type GgufInfo,
} from '../../src/hardware/index.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { buildCpuFeatures, parseLlamaLog, weightBufferPairs } from './llama-log.ts'
import { writeTinyLlama, type TinyLlamaOptions } from './tiny-llama.ts'

const MIB = 1024 * 1024
const AMX: CpuFeatures = { amx: true, avx2: true, avx512: true, armDotprod: false }
const AVX2: CpuFeatures = { ...NO_CPU_FEATURES, avx2: true }
const ARM: CpuFeatures = { ...NO_CPU_FEATURES, armDotprod: true }
const mib = (bytes: number): number => Math.round((bytes / MIB) * 100) / 100
const buffers = (info: GgufInfo, cpu: CpuFeatures | undefined, mmap = true): Record<string, [number, number]> =>
  Object.fromEntries(
    hostWeightBuffers(info.path, { tensors: info.tensors, tiedOutput: !info.tensors.some((t) => t.name === 'output.weight'), cpu, mmap }).map((b) => [
      b.name,
      [mib(b.bytes), mib(b.residentBytes)],
    ]),
  )

let dir: string
let n = 0
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-bufs-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
const llama = async (o: TinyLlamaOptions): Promise<GgufInfo> => {
  const path = join(dir, `m${n++}.gguf`)
  await writeTinyLlama(path, o)
  return readGgufInfo(path)
}

describe('which weights go to an extra buffer', () => {
  const w = (name: string, dims: number[], type: number): { name: string; dims: number[]; type: number } => ({ name, dims, type })

  it('knows the matrix weights from the rest by name', () => {
    expect(weightOp('blk.0.attn_q.weight')).toBe('mul_mat')
    expect(weightOp('output.weight')).toBe('mul_mat')
    expect(weightOp('blk.3.ffn_up_exps.weight')).toBe('mul_mat_id')
    for (const other of [
      'token_embd.weight',
      'blk.0.attn_norm.weight',
      'blk.0.attn_q.bias',
      'blk.1.ssm_conv1d.weight',
      'per_layer_token_embd.weight',
      'blk.0.ffn_norm_exps.weight',
    ]) {
      expect(weightOp(other), other).toBeUndefined()
    }
  })

  it('gives AMX the F16 and quantized matrices with rows in 32s, repacked quants with their extra bytes', () => {
    expect(extraBufferOf(w('blk.0.attn_q.weight', [256, 256], 1), AMX)).toEqual({ name: 'AMX', bytes: 256 * 256 * 2 })
    // Q8_0: 34-byte blocks plus a 4-byte compensation each; Q4_K 144 + 4; IQ4_XS 136 + 2; Q6_K as is.
    expect(extraBufferOf(w('blk.0.attn_q.weight', [4096, 4096], 8), AMX)?.bytes).toBe(4096 * 128 * 38)
    expect(extraBufferOf(w('blk.0.attn_q.weight', [4096, 4096], 12), AMX)?.bytes).toBe(4096 * 16 * 148)
    expect(extraBufferOf(w('blk.0.attn_q.weight', [4096, 4096], 23), AMX)?.bytes).toBe(4096 * 16 * 138)
    expect(extraBufferOf(w('output.weight', [4096, 128256], 14), AMX)?.bytes).toBe(128256 * 16 * 210)
  })

  it('leaves to CPU_REPACK (or the CPU) what AMX has no kernel or shape for', () => {
    // 48 rows: not AMX's 32s, but CPU_REPACK's 8s for Q4_0; Q4_K needs whole 256-value rows for AMX.
    expect(extraBufferOf(w('blk.0.attn_k.weight', [192, 48], 2), AMX)).toEqual({ name: 'CPU_REPACK', bytes: 48 * 6 * 18 })
    expect(extraBufferOf(w('blk.0.attn_k.weight', [192, 44], 2), AMX)).toBeUndefined()
    expect(extraBufferOf(w('blk.0.ffn_down.weight', [4096, 4096], 20), AMX)?.name).toBe('CPU_REPACK')
    // MoE experts (MUL_MAT_ID) are never AMX's; CPU_REPACK takes them whole.
    expect(extraBufferOf(w('blk.0.ffn_up_exps.weight', [2048, 768, 128], 12), AMX)).toEqual({ name: 'CPU_REPACK', bytes: 768 * 128 * 8 * 144 })
    expect(extraBufferOf(w('blk.0.attn_q.weight', [256, 256], 0), AMX)).toBeUndefined()
    expect(extraBufferOf(w('token_embd.weight', [256, 256], 1), AMX)).toBeUndefined()
  })

  it('repacks by the CPU: Q2_K only with AVX512, Q5_K/Q6_K/Q8_0 only on ARM, F16 nowhere', () => {
    expect(extraBufferOf(w('blk.0.attn_q.weight', [4096, 4096], 10), AVX2)).toBeUndefined()
    expect(extraBufferOf(w('blk.0.attn_q.weight', [4096, 4096], 10), { ...AVX2, avx512: true })?.name).toBe('CPU_REPACK')
    for (const type of [2, 12, 20, 39]) expect(extraBufferOf(w('blk.0.attn_q.weight', [4096, 4096], type), AVX2)?.name, `type ${type}`).toBe('CPU_REPACK')
    for (const type of [1, 8, 13, 14]) expect(extraBufferOf(w('blk.0.attn_q.weight', [4096, 4096], type), AVX2), `type ${type}`).toBeUndefined()
    for (const type of [2, 8, 12, 13, 14, 20]) expect(extraBufferOf(w('blk.0.attn_q.weight', [4096, 4096], type), ARM)?.name, `type ${type}`).toBe('CPU_REPACK')
    expect(extraBufferOf(w('blk.0.attn_q.weight', [4096, 4096], 2), NO_CPU_FEATURES)).toBeUndefined()
  })
})

// Every figure below is what llama-server (de3ff81, GGML_NATIVE, this AMX machine) logged at
// -c 256 -np 1; the CPU_Mapped span also covers the tensors repacked away from it.
describe('the host weight buffers of real files', () => {
  it('copies the F16 matrices of the 256-wide fixture to AMX', async () => {
    const info = await readGgufInfo((await writeTinyGguf(join(dir, `t${n++}.gguf`), { embeddingLength: 256 })).path)
    // Logged "AMX 2.50, CPU_Mapped 1.89": the span ends at blk.1.ffn_norm, before the last three matrices.
    expect(buffers(info, AMX)).toEqual({ AMX: [2.5, 2.5], CPU_Mapped: [1.89, 0.14] })
    // A CPU without AMX (and the same server with -nr): all of it mapped, "CPU_Mapped 2.64".
    expect(buffers(info, AVX2)).toEqual({ CPU_Mapped: [2.64, 2.64] })
    expect(buffers(info, undefined)).toEqual({ CPU_Mapped: [2.64, 2.64] })
    // -lm none: an allocated CPU buffer of its own tensors only, "CPU 0.14".
    expect(buffers(info, AMX, false)).toEqual({ AMX: [2.5, 2.5], CPU: [0.14, 0.14] })
  })

  it('sizes quantized AMX tiles, the tied output copy, and what CPU_REPACK takes', async () => {
    // Q8_0 with 288 tokens: the output layer (token_embd's data, 288 rows) is an AMX copy too.
    expect(buffers(await llama({ embd: 256, heads: 8, headsKv: 2, ff: 512, matrixType: 8, extraTokens: 25 }), AMX)).toEqual({
      AMX: [1.35, 1.35],
      CPU_Mapped: [0.81, 0.08],
    })
    expect(buffers(await llama({ embd: 256, heads: 8, headsKv: 2, ff: 512, matrixType: 8, extraTokens: 29 }), AMX)).toEqual({
      AMX: [1.26, 1.26],
      CPU_Mapped: [0.81, 0.08],
    })
    expect(buffers(await llama({ embd: 256, heads: 8, headsKv: 2, ff: 512, matrixType: 12, extraTokens: 29 }), AMX)).toEqual({
      AMX: [0.61, 0.61],
      CPU_Mapped: [0.43, 0.04],
    })
    expect(buffers(await llama({ embd: 256, heads: 8, headsKv: 2, ff: 512, matrixType: 20, extraTokens: 29 }), AMX)).toEqual({
      CPU_REPACK: [0.6, 0.6],
      CPU_Mapped: [0.43, 0.04],
    })
    expect(buffers(await llama({ embd: 192, heads: 8, headsKv: 2, ff: 384, matrixType: 2, extraTokens: 1 }), AMX)).toEqual({
      AMX: [0.32, 0.32],
      CPU_REPACK: [0.05, 0.05],
      CPU_Mapped: [0.25, 0.03],
    })
  })
})

describe('the estimate with the node’s CPU', () => {
  it('counts the extra buffers and the tensors left in the CPU buffer, not the span they were read from', async () => {
    const info = await llama({ embd: 256, heads: 8, headsKv: 2, ff: 512, matrixType: 8, extraTokens: 25 })
    const plain = estimateMemory(info, { ctx: 256, parallel: 1 })
    const amx = estimateMemory(info, nodeEstimateOptions(parseLaunchArgs(['-c', '256', '-np', '1']), { gpu: false, cpu: AMX }))
    expect(plain.weightsBytes).toBe(info.tensorBytes)
    const [extra, mapped] = amx.hostWeightBuffers
    expect(amx.weightsBytes).toBe(extra!.bytes + mapped!.residentBytes)
    expect(amx.totalBytes - plain.totalBytes).toBe(amx.weightsBytes - plain.weightsBytes)
    // More than the file: Q8_0 tiles are 38/34 of the blocks, and the tied output is a second copy.
    expect(amx.weightsBytes).toBeGreaterThan(info.tensorBytes)
  })

  it('counts none with -nr, or on a GPU node unless --no-host', async () => {
    const info = await llama({ embd: 256, heads: 8, headsKv: 2, ff: 512, matrixType: 8 })
    const est = (args: string[], gpu: boolean): number =>
      estimateMemory(info, nodeEstimateOptions(parseLaunchArgs(args), { gpu, cpu: AMX })).hostWeightBuffers.filter((b) => b.name === 'AMX').length
    expect(est([], false)).toBe(1)
    expect(est(['-nr'], false)).toBe(0)
    expect(est(['-ngl', '0'], true)).toBe(0)
    expect(est(['-ngl', '0', '--no-host'], true)).toBe(1)
    // Offloaded layers are not the CPU's: with all of them on the GPU only token_embd stays, in the CPU buffer.
    expect(est(['--no-host'], true)).toBe(0)
  })

  it('on a CPU-only node keeps every layer on the host whatever -ngl says', async () => {
    const info = await llama({ embd: 256, heads: 8, headsKv: 2, ff: 512, matrixType: 12 })
    const e = estimateMemory(info, nodeEstimateOptions(parseLaunchArgs(['-ngl', '99']), { gpu: false, cpu: AMX }))
    expect(e).toMatchObject({ deviceBytes: 0, hostBytes: e.totalBytes })
    expect(e.hostWeightBuffers.map((b) => b.name)).toEqual(['AMX', 'CPU_Mapped'])
  })
})

describe('the log comparison, on both kinds of CPU', () => {
  // Captured at -lv 4 (trimmed): this AMX machine, and the same model as a CPU without
  // AMX prints it (AVX2, REPACK built; for F16 this build with -nr printed the same lines).
  const AMX_LOG = `0.00.002.352 I cmn  common_param: system_info: n_threads = 2 (n_threads_batch = 2) / 2 | CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | 
0.00.007.544 I common_memory_breakdown_print: |   - AMX                |                    4 =     4 +       0 +       0                |
0.00.011.988 I load_tensors:          AMX model buffer size =     4.25 MiB
0.00.011.993 I load_tensors:   CPU_Mapped model buffer size =     4.61 MiB
0.00.014.598 I llama_context:        CPU  output buffer size =     0.01 MiB
0.00.014.621 I llama_kv_cache:        CPU KV buffer size =     0.25 MiB
0.00.015.808 I sched_reserve:        CPU compute buffer size =     2.38 MiB
`
  const AVX2_LOG = `0.00.002.352 I cmn  common_param: system_info: n_threads = 4 (n_threads_batch = 4) / 4 | CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | 
0.00.011.993 I load_tensors:   CPU_Mapped model buffer size =     5.36 MiB
0.00.014.621 I llama_kv_cache:        CPU KV buffer size =     0.25 MiB
0.00.015.808 I sched_reserve:        CPU compute buffer size =     2.38 MiB
`
  let written: Promise<GgufInfo> | undefined
  const gqa = (): Promise<GgufInfo> => (written ??= llama({ embd: 256, layers: 4, heads: 8, headsKv: 2, ff: 512, ctxTrain: 4096, extraTokens: 2000 }))

  it('reads each buffer type and the build’s CPU features', () => {
    const amx = parseLlamaLog(AMX_LOG)
    expect(amx).toMatchObject({ kv: 0.25, compute: 2.38 })
    expect([...amx.model]).toEqual([
      ['AMX', 4.25],
      ['CPU_Mapped', 4.61],
    ])
    expect(buildCpuFeatures(amx.cpu)).toEqual(AMX)
    const avx2 = parseLlamaLog(AVX2_LOG)
    expect([...avx2.model]).toEqual([['CPU_Mapped', 5.36]])
    expect(buildCpuFeatures(avx2.cpu)).toEqual(AVX2)
  })

  it.each([
    ['AMX', AMX_LOG],
    ['AVX2 without AMX', AVX2_LOG],
  ])('matches the estimate buffer by buffer on a CPU with %s', async (_, log) => {
    const real = parseLlamaLog(log)
    const e = estimateMemory(await gqa(), nodeEstimateOptions(parseLaunchArgs(['-c', '256', '-np', '1']), { gpu: false, cpu: buildCpuFeatures(real.cpu) }))
    const pairs = weightBufferPairs(e.hostWeightBuffers, real.model)
    expect(pairs.map((p) => p.name)).toEqual([...real.model.keys()].sort())
    for (const p of pairs) expect(Math.abs(p.estimate - p.real), p.name).toBeLessThanOrEqual(0.005)
    expect(e.kvBytes / MIB).toBe(real.kv)
  })

  it('shows a missing or unexpected buffer as zero on the side that lacks it', async () => {
    // The AMX machine's log against an estimate for a CPU without AMX: the pairs do not match.
    const e = estimateMemory(await gqa(), { ctx: 256, parallel: 1, nGpuLayers: 0, cpu: AVX2 })
    expect(weightBufferPairs(e.hostWeightBuffers, parseLlamaLog(AMX_LOG).model).map((p) => [p.name, p.estimate > 0, p.real > 0])).toEqual([
      ['AMX', false, true],
      ['CPU_Mapped', true, true],
    ])
  })
})
