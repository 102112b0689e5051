/**
 * A tiny GGUF v3 llama model with seeded random weights (~200 KB) that a real llama-server
 * loads in milliseconds and runs on CPU. Its text is gibberish; what tests need is a real
 * load, real slots, real token streams and real memory numbers.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

export interface TinyGgufOptions {
  /** `llama.context_length` (the trained context), default 512. */
  contextLength?: number
  /** `llama.embedding_length`, default 64; must be a multiple of the head count (4). */
  embeddingLength?: number
  /** `llama.block_count`, default 2. */
  blockCount?: number
  /** Weight seed, default 1: the same options give the same bytes. */
  seed?: number
  /** `general.name`, default `tiny`. */
  name?: string
}

export interface TinyGgufParams {
  name: string
  seed: number
  contextLength: number
  embeddingLength: number
  blockCount: number
  feedForwardLength: number
  headCount: number
  headCountKv: number
  /** Per-head dimension, also `llama.rope.dimension_count`. */
  headDim: number
  rmsEpsilon: number
  vocabSize: number
  alignment: number
}

export interface TinyTensor {
  name: string
  /** GGUF order: ne[0] (the row length) first. */
  dims: number[]
  type: 'F32' | 'F16'
  bytes: number
}

/** `▁word` tokens (type 1) after <unk>, <s>, </s> and the 256 byte tokens. */
export const TINY_WORDS: readonly string[] = ['▁hello', '▁world', '▁the', '▁herd', '▁llama', '▁a', '▁is', '▁of']
export const TINY_CHAT_TEMPLATE =
  "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"

/** The parameters `writeTinyGguf(path, opts)` uses. */
export function tinyGgufParams(opts: TinyGgufOptions = {}): TinyGgufParams {
  const embeddingLength = opts.embeddingLength ?? 64
  const headCount = 4
  if (embeddingLength % headCount !== 0) throw new Error(`embeddingLength must be a multiple of ${headCount}`)
  return {
    name: opts.name ?? 'tiny',
    seed: opts.seed ?? 1,
    contextLength: opts.contextLength ?? 512,
    embeddingLength,
    blockCount: opts.blockCount ?? 2,
    feedForwardLength: embeddingLength * 2,
    headCount,
    headCountKv: headCount,
    headDim: embeddingLength / headCount,
    rmsEpsilon: 1e-5,
    vocabSize: 3 + 256 + TINY_WORDS.length,
    alignment: 32,
  }
}

/** The tensors, in file order, with their sizes. */
export function tinyGgufTensors(p: TinyGgufParams): TinyTensor[] {
  const e = p.embeddingLength
  const kv = p.headDim * p.headCountKv
  const f16 = (name: string, dims: number[]): TinyTensor => ({ name, dims, type: 'F16', bytes: 2 * dims.reduce((a, b) => a * b, 1) })
  const f32 = (name: string, n: number): TinyTensor => ({ name, dims: [n], type: 'F32', bytes: 4 * n })
  const tensors = [f16('token_embd.weight', [e, p.vocabSize]), f32('output_norm.weight', e)]
  for (let i = 0; i < p.blockCount; i++) {
    const b = `blk.${i}`
    tensors.push(
      f32(`${b}.attn_norm.weight`, e),
      f16(`${b}.attn_q.weight`, [e, p.headDim * p.headCount]),
      f16(`${b}.attn_k.weight`, [e, kv]),
      f16(`${b}.attn_v.weight`, [e, kv]),
      f16(`${b}.attn_output.weight`, [p.headDim * p.headCount, e]),
      f32(`${b}.ffn_norm.weight`, e),
      f16(`${b}.ffn_gate.weight`, [e, p.feedForwardLength]),
      f16(`${b}.ffn_up.weight`, [e, p.feedForwardLength]),
      f16(`${b}.ffn_down.weight`, [p.feedForwardLength, e]),
    )
  }
  return tensors
}

/** The vocabulary: tokens and their types (2 unknown, 3 control, 6 byte, 1 normal). */
export function tinyVocab(): { tokens: string[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>']
  const types = [2, 3, 3]
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)
    types.push(6)
  }
  for (const w of TINY_WORDS) {
    tokens.push(w)
    types.push(1)
  }
  return { tokens, types }
}

export interface TinyGgufFile {
  path: string
  bytes: number
  params: TinyGgufParams
  tensors: TinyTensor[]
}

/** Writes the model to `path` (creating its folder) and says what it wrote. */
export async function writeTinyGguf(path: string, opts: TinyGgufOptions = {}): Promise<TinyGgufFile> {
  const params = tinyGgufParams(opts)
  const tensors = tinyGgufTensors(params)
  const data = encodeTinyGguf(params, tensors)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, data)
  return { path, bytes: data.length, params, tensors }
}

// GGUF value types (ggml/include/gguf.h).
const T = { U32: 4, I32: 5, F32: 6, STRING: 8, ARRAY: 9 } as const
type Kv =
  | [key: string, type: 'u32' | 'f32' | 'str', value: number | string]
  | [key: string, type: 'arr', elemType: 'str' | 'i32' | 'f32', values: readonly (string | number)[]]

/** The whole file in memory: header, metadata, tensor infos, padding, aligned tensor data. */
export function encodeTinyGguf(p: TinyGgufParams, tensors: TinyTensor[]): Buffer {
  const { tokens, types } = tinyVocab()
  const kvs: Kv[] = [
    ['general.architecture', 'str', 'llama'],
    ['general.name', 'str', p.name],
    ['general.file_type', 'u32', 1],
    ['llama.context_length', 'u32', p.contextLength],
    ['llama.embedding_length', 'u32', p.embeddingLength],
    ['llama.block_count', 'u32', p.blockCount],
    ['llama.feed_forward_length', 'u32', p.feedForwardLength],
    ['llama.attention.head_count', 'u32', p.headCount],
    ['llama.attention.head_count_kv', 'u32', p.headCountKv],
    ['llama.rope.dimension_count', 'u32', p.headDim],
    ['llama.attention.layer_norm_rms_epsilon', 'f32', p.rmsEpsilon],
    ['tokenizer.ggml.model', 'str', 'llama'],
    ['tokenizer.ggml.tokens', 'arr', 'str', tokens],
    ['tokenizer.ggml.scores', 'arr', 'f32', tokens.map(() => 0)],
    ['tokenizer.ggml.token_type', 'arr', 'i32', types],
    ['tokenizer.ggml.bos_token_id', 'u32', 1],
    ['tokenizer.ggml.eos_token_id', 'u32', 2],
    ['tokenizer.ggml.unknown_token_id', 'u32', 0],
    ['tokenizer.chat_template', 'str', TINY_CHAT_TEMPLATE],
  ]
  const w = new Writer()
  w.raw(Buffer.from('GGUF', 'ascii'))
  w.u32(3)
  w.u64(tensors.length)
  w.u64(kvs.length)
  for (const kv of kvs) writeKv(w, kv)
  let offset = 0
  const offsets: number[] = []
  for (const t of tensors) {
    w.str(t.name)
    w.u32(t.dims.length)
    for (const d of t.dims) w.u64(d)
    w.u32(t.type === 'F32' ? 0 : 1)
    w.u64(offset)
    offsets.push(offset)
    offset = align(offset + t.bytes, p.alignment)
  }
  w.pad(p.alignment)
  const rand = mulberry32(p.seed)
  const body = Buffer.alloc(offset)
  tensors.forEach((t, i) => {
    const at = offsets[i] ?? 0
    const n = t.bytes / (t.type === 'F32' ? 4 : 2)
    // Norm weights of 1 keep activations sane; matrices get small symmetric noise.
    for (let j = 0; j < n; j++) {
      if (t.type === 'F32') body.writeFloatLE(1, at + 4 * j)
      else body.writeUInt16LE(toHalf((rand() * 2 - 1) * 0.1), at + 2 * j)
    }
  })
  w.raw(body)
  return w.done()
}

function writeKv(w: Writer, kv: Kv): void {
  w.str(kv[0])
  if (kv[1] === 'arr') {
    w.u32(T.ARRAY)
    const [, , elem, values] = kv
    w.u32(elem === 'str' ? T.STRING : elem === 'i32' ? T.I32 : T.F32)
    w.u64(values.length)
    for (const v of values) {
      if (elem === 'str') w.str(String(v))
      else if (elem === 'i32') w.i32(Number(v))
      else w.f32(Number(v))
    }
    return
  }
  const [, type, value] = kv
  if (type === 'u32') {
    w.u32(T.U32)
    w.u32(Number(value))
  } else if (type === 'f32') {
    w.u32(T.F32)
    w.f32(Number(value))
  } else {
    w.u32(T.STRING)
    w.str(String(value))
  }
}

class Writer {
  private readonly parts: Buffer[] = []
  private length = 0
  raw(b: Buffer): void {
    this.parts.push(b)
    this.length += b.length
  }
  u32(n: number): void {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n)
    this.raw(b)
  }
  i32(n: number): void {
    const b = Buffer.alloc(4)
    b.writeInt32LE(n)
    this.raw(b)
  }
  u64(n: number): void {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(BigInt(n))
    this.raw(b)
  }
  f32(n: number): void {
    const b = Buffer.alloc(4)
    b.writeFloatLE(n)
    this.raw(b)
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8')
    this.u64(b.length)
    this.raw(b)
  }
  pad(alignment: number): void {
    this.raw(Buffer.alloc(align(this.length, alignment) - this.length))
  }
  done(): Buffer {
    return Buffer.concat(this.parts, this.length)
  }
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a
}

function mulberry32(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** IEEE 754 half precision, round to nearest; enough for the small values written here. */
function toHalf(x: number): number {
  const f = new Float32Array([x])
  const bits = new Uint32Array(f.buffer)[0] ?? 0
  const sign = (bits >>> 16) & 0x8000
  const exp = ((bits >>> 23) & 0xff) - 127 + 15
  const mant = bits & 0x7fffff
  if (exp <= 0) {
    if (exp < -10) return sign
    const m = (mant | 0x800000) >>> (1 - exp)
    return sign | ((m + 0x1000) >>> 13)
  }
  if (exp >= 0x1f) return sign | 0x7c00
  return (sign | (exp << 10) | (mant >>> 13)) + ((mant >>> 12) & 1)
}
