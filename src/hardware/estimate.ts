/**
 * What a llama-server launch will allocate, from GGUF facts alone, mirroring the llama.cpp
 * source herd builds (src/llama-context.cpp, src/llama-kv-cache.cpp, tools/server):
 *
 * - weights: the sum of tensor bytes, plus the repacked copies the CPU backend makes of some
 *   host weights on CPUs with AMX or AVX2/ARM repacking (weight-buffers.ts, which also gives
 *   the `model buffer size` lines as llama-server will print them).
 * - KV cache: n_ctx is padded to 256. With `--kv-unified` (llama-server's default when
 *   `-np` is not given: 4 slots, unified) one stream holds n_ctx cells shared by all slots;
 *   without it each of the n_parallel streams holds pad256(n_ctx / n_parallel) cells. Either
 *   way `-c` is the total across slots, so kv = Σ_layers cells × (row bytes of K + V),
 *   K row = n_embd_head_k × n_head_kv(il) in `-ctk` type, V likewise.
 * - compute: the scheduler reserves the worst-case prompt graph for T = min(n_ctx, n_ubatch)
 *   tokens (n_batch is first capped at the unpadded n_ctx). Calibrated against the real
 *   server's `compute buffer size` on llama-arch models (see test/hardware):
 *     mask     = n_ctx_seq × T × (2 bytes with flash attention, 4 without)
 *     kq       = without flash attention: 4 × n_ctx_seq × T × n_head (the KQ matrix)
 *     attn     = 4 × T × (5·n_embd + 2·n_embd_kv)           (Q/K/V, rope, attention out)
 *     ffn      = 4 × T × (3·n_ff + 4·n_embd)                 (gate, up, swiglu, residuals)
 *     logits   = 4 × n_vocab × n_outputs (server: n_parallel outputs; none for embeddings)
 *     compute  = mask + max(kq + attn, ffn, logits + 8·T·n_embd)
 *   The allocator reuses memory between phases, so the peak is the largest phase plus the
 *   mask, which lives through the whole graph. Checked within 10 % on dense llama-style
 *   models from 64 to 256 wide (numbers in test/hardware/estimate.test.ts). Not modelled: MoE
 *   expert activations, SWA caches (counted as full caches: an over-estimate), recurrent
 *   state, MLA, vision projectors, or the extra per-device compute buffers of split models.
 *
 * `-fa auto` is taken as on: CPU and CUDA both run flash attention for common head sizes.
 */
import type { CpuFeatures } from './cpu-features.ts'
import { ggmlBytes, ggmlType, ggmlTypeId } from './ggml-types.ts'
import { perLayer, tensorDataBytes, type GgufInfo } from './gguf-info.ts'
import type { GgufTensorInfo } from './gguf-reader.ts'
import { hostWeightBuffers, type WeightBuffer } from './weight-buffers.ts'

export interface EstimateOptions {
  /** `-c`; 0 or undefined: the trained context length. */
  ctx?: number
  /** `-np`; undefined or -1: llama-server's auto (4 slots, unified KV). */
  parallel?: number
  /** `-kvu` / `-no-kvu`; default: unified only when parallel is auto. */
  kvUnified?: boolean
  cacheTypeK?: string
  cacheTypeV?: string
  /** `-ngl`; undefined or negative: all layers. Only splits device from host bytes. */
  nGpuLayers?: number
  batch?: number
  ubatch?: number
  flashAttn?: 'on' | 'off' | 'auto'
  /** `--embedding` / `--rerank`: no logits, n_batch = n_ubatch. */
  embedding?: boolean
  /** false with `-nkvo`: the KV cache stays in system memory. */
  kvOffload?: boolean
  /**
   * The CPU whose extra buffer types (AMX, CPU_REPACK) take host weights: give it for a
   * CPU-only node, where llama-server has no GPU device and keeps every layer on the host
   * whatever `-ngl` says (so pass `nGpuLayers: 0` too), or for a GPU build run with
   * `--no-host`. Absent: host weights stay in the plain CPU buffer, as a GPU build keeps them.
   */
  cpu?: CpuFeatures
  /** false with `-nr` / `--no-repack`: no extra buffer types at all (AMX included). */
  repack?: boolean
  /** false with `-lm none|mlock|dio`: weights are read into an allocated buffer, not mapped. */
  mmap?: boolean
}

export interface MemoryEstimate {
  weightsBytes: number
  kvBytes: number
  computeBytes: number
  totalBytes: number
  /**
   * What lands on the GPU when the node has one: offloaded layers and their KV, the output
   * layer (a second copy of token_embd when embeddings are tied), the compute buffer.
   */
  deviceBytes: number
  /** What stays in system memory then (token embeddings, layers not offloaded); all of it with -ngl 0. */
  hostBytes: number
  /** The weights part of `hostBytes`. */
  hostWeightsBytes: number
  /**
   * The host weight buffers as llama-server's `model buffer size` lines will name and size
   * them. Their `residentBytes` add up to `hostWeightsBytes`: a mapped `CPU_Mapped` span also
   * holds the file pages of tensors repacked elsewhere, read once at load and then left to
   * the page cache, which are in its printed size but not in what the weights need.
   */
  hostWeightBuffers: readonly WeightBuffer[]
  nCtx: number
  nCtxSeq: number
  nParallel: number
  kvUnified: boolean
  nUbatch: number
  flashAttn: boolean
}

const pad256 = (n: number): number => Math.ceil(n / 256) * 256
const LAYER_RE = /^blk\.(\d+)\./

/** Memory llama-server allocates for this model with these options. */
export function estimateMemory(info: GgufInfo, o: EstimateOptions = {}): MemoryEstimate {
  const nLayer = info.blockCount
  const autoParallel = o.parallel === undefined || o.parallel < 0
  const nParallel = autoParallel ? 4 : Math.max(1, o.parallel ?? 1)
  const kvUnified = o.kvUnified ?? autoParallel
  // No -c: llama-server takes the trained length, and its default `--fit on` may shrink that
  // (to 4096 at least) to fit free device memory. Planning for the full length is the safe side.
  const ctxRequested = o.ctx && o.ctx > 0 ? o.ctx : info.contextLength || 4096
  let nCtx = pad256(ctxRequested)
  let nCtxSeq = nCtx
  if (!kvUnified) {
    nCtxSeq = pad256(Math.floor(nCtx / nParallel))
    nCtx = nCtxSeq * nParallel
  }
  const ubatchOpt = o.ubatch ?? 512
  const nBatch = Math.min(ctxRequested, o.embedding ? Math.min(o.batch ?? 2048, ubatchOpt) : (o.batch ?? 2048))
  const nUbatch = Math.min(nBatch, ubatchOpt)
  const flashAttn = o.flashAttn !== 'off'

  // Layers [firstGpu, nLayer) and the output layer go to the GPU; token embeddings never do.
  const ngl = o.nGpuLayers === undefined || o.nGpuLayers < 0 ? nLayer + 1 : o.nGpuLayers
  const firstGpu = Math.max(nLayer + 1 - ngl, 0)
  const onGpu = (il: number): boolean => il >= firstGpu

  let deviceWeights = 0
  let tokenEmbdBytes = 0
  let hasOutput = false
  const hostTensors: GgufTensorInfo[] = []
  for (const t of info.tensors) {
    const bytes = tensorDataBytes(info.path, t)
    const layer = LAYER_RE.exec(t.name)
    if (t.name.startsWith('token_embd.')) tokenEmbdBytes += bytes
    if (layer ? onGpu(Number(layer[1])) : !t.name.startsWith('token_embd.') && onGpu(nLayer)) deviceWeights += bytes
    else hostTensors.push(t)
    if (t.name === 'output.weight') hasOutput = true
  }
  // Tied embeddings: llama.cpp loads token_embd a second time on the output layer's device.
  const duplicated = !hasOutput && ngl > 0 ? tokenEmbdBytes : 0
  const buffers = hostWeightBuffers(info.path, {
    tensors: hostTensors,
    tiedOutput: !hasOutput && !onGpu(nLayer),
    cpu: o.repack === false ? undefined : o.cpu,
    mmap: o.mmap !== false,
  })
  const hostWeights = buffers.reduce((a, b) => a + b.residentBytes, 0)
  const weightsBytes = deviceWeights + hostWeights

  const typeK = cacheType(o.cacheTypeK)
  const typeV = cacheType(o.cacheTypeV)
  const nHead0 = perLayer(info.headCount, 0) || 1
  const headK = info.keyLength ?? Math.floor(info.embeddingLength / nHead0)
  const headV = info.valueLength ?? Math.floor(info.embeddingLength / nHead0)
  let kvBytes = 0
  let deviceKv = 0
  for (let il = 0; il < nLayer; il++) {
    const nHeadKv = perLayer(info.headCountKv, il)
    const layerBytes = nCtx * (ggmlBytes(typeK, headK * nHeadKv) + ggmlBytes(typeV, headV * nHeadKv))
    kvBytes += layerBytes
    if (onGpu(il) && o.kvOffload !== false) deviceKv += layerBytes
  }

  const nHeadMax = maxOf(info.headCount)
  const nEmbd = Math.max(info.embeddingLength, nHeadMax * headK)
  const nFf = info.feedForwardLength === undefined ? 4 * nEmbd : maxOf(info.feedForwardLength)
  const nEmbdKv = headK * maxOf(info.headCountKv)
  const T = nUbatch
  const mask = nCtxSeq * T * (flashAttn ? 2 : 4)
  const kq = flashAttn ? 0 : 4 * nCtxSeq * T * nHeadMax
  const attn = 4 * T * (5 * nEmbd + 2 * nEmbdKv)
  const ffn = 4 * T * (3 * nFf + 4 * nEmbd)
  const logits = o.embedding ? 0 : 4 * info.vocabSize * Math.min(T, nParallel)
  const computeBytes = mask + Math.max(kq + attn, ffn, logits + 8 * T * nEmbd)

  const totalBytes = weightsBytes + kvBytes + computeBytes
  const gpu = ngl > 0
  return {
    weightsBytes,
    kvBytes,
    computeBytes,
    totalBytes,
    deviceBytes: gpu ? deviceWeights + duplicated + deviceKv + computeBytes : 0,
    hostBytes: gpu ? hostWeights + kvBytes - deviceKv : totalBytes,
    hostWeightsBytes: hostWeights,
    hostWeightBuffers: buffers,
    nCtx,
    nCtxSeq,
    nParallel,
    kvUnified,
    nUbatch,
    flashAttn,
  }
}

function cacheType(name: string | undefined): NonNullable<ReturnType<typeof ggmlType>> {
  const id = ggmlTypeId(name ?? 'f16')
  const type = id === undefined ? undefined : ggmlType(id)
  if (!type) throw new Error(`unknown KV cache type "${name}"`)
  return type
}

function maxOf(v: number | readonly number[]): number {
  return typeof v === 'number' ? v : Math.max(0, ...v)
}
