/**
 * Where llama-server keeps the weights that stay in system memory, mirroring the llama.cpp
 * source herd builds. The CPU buffer list is ACCEL → GPU host (unless `--no-host`) → the CPU
 * backend's extra buffer types (unless `-nr`) → CPU (src/llama-model.cpp
 * `make_cpu_buft_list`), and each weight goes to the first that supports the op it feeds
 * (`select_weight_buft`). A GPU build's host buffer takes every host weight, and is then
 * swapped for the plain CPU one under mmap, so the extra types only matter for a CPU-only
 * build or with `--no-host`. In order:
 *
 * - `AMX` (ggml-cpu/amx/amx.cpp, built with AMX_INT8 + AVX512_VNNI): MUL_MAT weights (not
 *   MoE experts) with rows (ne1) a multiple of 32, of type F16 (ne0 % 16), Q4_0, Q4_1,
 *   Q8_0 (ne0 % 32), Q4_K, Q5_K, Q6_K or IQ4_XS (ne0 % 256). F16 is copied as is; the
 *   quantized types are repacked into VNNI tiles of `get_row_size` bytes a row (mmq.cpp):
 *   the block plus 4 bytes for Q8_0 (s8s8 compensation), Q4_K and Q5_K, 2 for IQ4_XS.
 * - `CPU_REPACK` (ggml-cpu/repack.cpp): 2-D MUL_MAT and 3-D MUL_MAT_ID (expert) weights
 *   that `ggml_repack_get_optimal_repack_type` has a layout for: with AVX2 Q4_0, Q4_K,
 *   IQ4_NL, MXFP4 (ne1 % 8), with AVX512 also Q2_K; on ARM with dotprod/i8mm Q4_0, Q8_0,
 *   IQ4_NL, MXFP4, Q1_0 (ne1 % 4) and Q4_K, Q5_K, Q6_K (ne1 % 8). Same size as the original.
 * - `CPU`: everything else, the token embeddings (GET_ROWS) and norms among them. Under
 *   mmap (the default) this is `CPU_Mapped`: the file range from the first to the last tensor
 *   it holds, so repacked tensors lying in between are counted in it too.
 *
 * An extra buffer is a second copy. With mmap, the file pages of a repacked tensor are read
 * once, at load (mmap prefetch, then `set_tensor` repacks from them), and never again: no
 * tensor points at them any more. They stay in the page cache and in the process's RSS
 * (RssFile) until the kernel needs the memory, and it can drop them at no cost (clean,
 * unused pages), so they are counted in the logged `CPU_Mapped` size but not in what the
 * weights keep resident (`residentBytes`). Without mmap (`-lm none|mlock|dio`) the CPU
 * buffer holds only its own tensors and nothing of the sort arises. Not modelled: KleidiAI
 * and RISC-V/SpacemiT buffers (off in default builds), `-ot` overrides, split GGUF files.
 */
import type { CpuFeatures } from './cpu-features.ts'
import { ggmlBytes, ggmlType } from './ggml-types.ts'
import type { GgufTensorInfo } from './gguf-reader.ts'

export type ExtraBufferName = 'AMX' | 'CPU_REPACK'

export interface WeightBuffer {
  /** As llama-server's `load_tensors: NAME model buffer size` line names it. */
  readonly name: ExtraBufferName | 'CPU_Mapped' | 'CPU'
  /** Its size as that line prints it. */
  readonly bytes: number
  /** What of it the running server keeps using: all of an allocated buffer; of a mapped span, its own tensors. */
  readonly residentBytes: number
}

export interface HostWeightsInput {
  /** The tensors kept in system memory (all of them without GPU offload). */
  tensors: readonly GgufTensorInfo[]
  /** No `output.weight`: token_embd doubles as the output layer, which is on the host too. */
  tiedOutput: boolean
  /** The CPU whose extra buffers are in play; undefined: none (GPU build, `-nr`). */
  cpu: CpuFeatures | undefined
  /** mmap load (llama-server's default). */
  mmap: boolean
}

/** ggml's TENSOR_ALIGNMENT: every buffer here pads each tensor to it. */
const ALIGN = 32
const pad = (n: number): number => Math.ceil(n / ALIGN) * ALIGN

/** AMX: type id → the ne0 multiple it needs and the bytes it adds per block (none for F16: a plain copy). */
const AMX: ReadonlyMap<number, { k: number; extra: number }> = new Map([
  [1, { k: 16, extra: 0 }], // F16
  [2, { k: 32, extra: 0 }], // Q4_0
  [3, { k: 32, extra: 0 }], // Q4_1
  [8, { k: 32, extra: 4 }], // Q8_0
  [12, { k: 256, extra: 4 }], // Q4_K
  [13, { k: 256, extra: 4 }], // Q5_K
  [14, { k: 256, extra: 0 }], // Q6_K
  [23, { k: 256, extra: 2 }], // IQ4_XS
])

/** CPU_REPACK: type id → the ne1 multiple it needs on x86 (and which feature) and on ARM. */
const REPACK: ReadonlyMap<number, { x86?: ['avx2' | 'avx512', number]; arm?: number }> = new Map([
  [2, { x86: ['avx2', 8], arm: 4 }], // Q4_0
  [12, { x86: ['avx2', 8], arm: 8 }], // Q4_K
  [10, { x86: ['avx512', 8] }], // Q2_K
  [13, { arm: 8 }], // Q5_K
  [14, { arm: 8 }], // Q6_K
  [20, { x86: ['avx2', 8], arm: 4 }], // IQ4_NL
  [39, { x86: ['avx2', 8], arm: 4 }], // MXFP4
  [8, { arm: 4 }], // Q8_0
  [41, { arm: 4 }], // Q1_0
])

// Weights llama-arch.cpp feeds to something other than a matrix product (LLM_TENSOR_INFOS).
// Norms, biases and the other element-wise weights are F32, which no extra buffer takes anyway.
const GET_ROWS_OR_CONV =
  /^(?:token_embd|position_embd|token_types|per_layer_token_embd|d2t|markov_w1|selector_predecessor|selector_successor)\.|\.(?:attn_rel_b|attn_compressor_ape|indexer_compressor_ape|ffn_gate_tid2eid|nextn\.embed_tokens|ssm_conv1d|ple_conv1d|shortconv\.conv|ssm_a|ssm_d)\b/
const EXPERTS = /_(?:exps|chexps)\.weight$/

/** The matrix op a weight feeds, from its name; undefined for the others. */
export function weightOp(name: string): 'mul_mat' | 'mul_mat_id' | undefined {
  if (!name.endsWith('.weight') || GET_ROWS_OR_CONV.test(name) || name.includes('norm')) return undefined
  return EXPERTS.test(name) ? 'mul_mat_id' : 'mul_mat'
}

/** Which extra buffer takes this weight on this CPU, and its size there; undefined: the CPU buffer. */
export function extraBufferOf(
  t: Pick<GgufTensorInfo, 'name' | 'dims' | 'type'>,
  cpu: CpuFeatures,
  op = weightOp(t.name),
): { name: ExtraBufferName; bytes: number } | undefined {
  if (op === undefined) return undefined
  // ggml_n_dims: trailing dimensions of 1 do not count.
  const dims = [...t.dims]
  while (dims.length > 1 && dims[dims.length - 1] === 1) dims.pop()
  const [ne0 = 0, ne1 = 1] = dims
  const type = ggmlType(t.type)
  if (!type) return undefined
  const amx = AMX.get(t.type)
  if (cpu.amx && op === 'mul_mat' && amx && ne1 % 32 === 0 && ne0 % amx.k === 0) {
    // mmq.cpp sizes ne1 rows; a 3-D weight (rare: MLA) is counted whole, which can only be more.
    const rows = dims.slice(1).reduce((a, b) => a * b, 1)
    const bytes = t.type === 1 ? ggmlBytes(type, ne0 * rows) : rows * (ne0 / type.blockSize) * (type.typeSize + amx.extra)
    return { name: 'AMX', bytes: pad(bytes) }
  }
  const repack = REPACK.get(t.type)
  if (repack && dims.length === (op === 'mul_mat' ? 2 : 3)) {
    const x86 = repack.x86 && cpu[repack.x86[0]] && ne1 % repack.x86[1] === 0
    const arm = repack.arm !== undefined && cpu.armDotprod && ne1 % repack.arm === 0
    if (x86 || arm)
      return {
        name: 'CPU_REPACK',
        bytes: pad(
          ggmlBytes(
            type,
            t.dims.reduce((a, b) => a * b, 1),
          ),
        ),
      }
  }
  return undefined
}

/** The host weight buffers llama-server will allocate (those with something in them). */
export function hostWeightBuffers(path: string, input: HostWeightsInput): WeightBuffer[] {
  const extra = new Map<ExtraBufferName, number>()
  let first = Infinity
  let last = 0
  let cpuBytes = 0
  let cpuPadded = 0
  const put = (t: GgufTensorInfo, op?: 'mul_mat'): boolean => {
    const to = input.cpu && extraBufferOf(t, input.cpu, op)
    if (to) extra.set(to.name, (extra.get(to.name) ?? 0) + to.bytes)
    return to !== undefined
  }
  for (const t of input.tensors) {
    // Tied embeddings: the output layer is a second tensor on the same data (MUL_MAT, where
    // token_embd is GET_ROWS); in the CPU buffer it is the same tensor, in an extra one a copy.
    if (input.tiedOutput && t.name === 'token_embd.weight') put(t, 'mul_mat')
    if (put(t)) continue
    const type = ggmlType(t.type)
    if (!type) throw new Error(`${path}: tensor ${t.name} has unknown ggml type ${t.type}`)
    const bytes = ggmlBytes(
      type,
      t.dims.reduce((a, b) => a * b, 1),
    )
    cpuBytes += bytes
    cpuPadded += pad(bytes)
    first = Math.min(first, t.offset)
    last = Math.max(last, t.offset + bytes)
  }
  const out: WeightBuffer[] = [...extra].map(([name, bytes]) => ({ name, bytes, residentBytes: bytes }))
  if (cpuBytes > 0) {
    out.push(input.mmap ? { name: 'CPU_Mapped', bytes: last - first, residentBytes: cpuBytes } : { name: 'CPU', bytes: cpuPadded, residentBytes: cpuPadded })
  }
  return out
}
