/**
 * A tiny llama-architecture model the real llama-server loads (byte-level vocabulary,
 * random F16 matrices, F32 norms), sized by options so the estimate can be checked at
 * several shapes. Used until (and beside) the shared test/fixtures/tiny-gguf.ts.
 */
import { ggmlBytes, ggmlType } from '../../src/hardware/index.ts'
import { writeGguf, type WriterTensor } from './gguf-writer.ts'

export interface TinyLlamaOptions {
  embd?: number
  layers?: number
  heads?: number
  headsKv?: number
  ff?: number
  ctxTrain?: number
  /**
   * ggml type id of the 2-D weight matrices: 1 = F16 (default), 0 = F32, or a quantized type
   * (8 = Q8_0, 12 = Q4_K, 20 = IQ4_NL, …), whose blocks are written as zeros (it loads; it
   * computes nothing useful).
   */
  matrixType?: number
  /** Extra `▁wN` tokens, to grow the vocabulary (and the logits) beyond 263. */
  extraTokens?: number
}

export async function writeTinyLlama(path: string, o: TinyLlamaOptions = {}): Promise<{ vocab: number }> {
  const embd = o.embd ?? 64
  const layers = o.layers ?? 2
  const heads = o.heads ?? 4
  const headsKv = o.headsKv ?? heads
  const ff = o.ff ?? 128
  const mt = o.matrixType ?? 1
  const tokens = ['<unk>', '<s>', '</s>']
  for (let i = 0; i < 256; i++) tokens.push(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`)
  tokens.push('▁hello', '▁world', '▁the', '▁a')
  for (let i = 0; i < (o.extraTokens ?? 0); i++) tokens.push(`▁w${i}`)
  const types = tokens.map((_, i) => (i < 3 ? 3 : i < 259 ? 6 : 1))
  const vocab = tokens.length
  const headDim = embd / heads
  const type = ggmlType(mt)
  if (!type) throw new Error(`unknown ggml type ${mt}`)
  const m = (name: string, d0: number, d1: number): WriterTensor => ({ name, dims: [d0, d1], type: mt, bytes: ggmlBytes(type, d0 * d1) })
  const v = (name: string, d0: number): WriterTensor => ({ name, dims: [d0], type: 0, bytes: d0 * 4 })
  const tensors: WriterTensor[] = [m('token_embd.weight', embd, vocab), v('output_norm.weight', embd)]
  for (let b = 0; b < layers; b++) {
    tensors.push(
      v(`blk.${b}.attn_norm.weight`, embd),
      m(`blk.${b}.attn_q.weight`, embd, embd),
      m(`blk.${b}.attn_k.weight`, embd, headDim * headsKv),
      m(`blk.${b}.attn_v.weight`, embd, headDim * headsKv),
      m(`blk.${b}.attn_output.weight`, embd, embd),
      v(`blk.${b}.ffn_norm.weight`, embd),
      m(`blk.${b}.ffn_gate.weight`, embd, ff),
      m(`blk.${b}.ffn_up.weight`, embd, ff),
      m(`blk.${b}.ffn_down.weight`, ff, embd),
    )
  }
  let seed = 1
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff - 0.5
  }
  await writeGguf(path, {
    metadata: {
      'general.architecture': { type: 'string', value: 'llama' },
      'general.name': { type: 'string', value: 'tiny' },
      'general.file_type': { type: 'u32', value: mt },
      'llama.context_length': { type: 'u32', value: o.ctxTrain ?? 4096 },
      'llama.embedding_length': { type: 'u32', value: embd },
      'llama.block_count': { type: 'u32', value: layers },
      'llama.feed_forward_length': { type: 'u32', value: ff },
      'llama.attention.head_count': { type: 'u32', value: heads },
      'llama.attention.head_count_kv': { type: 'u32', value: headsKv },
      'llama.rope.dimension_count': { type: 'u32', value: headDim },
      'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: 1e-5 },
      'tokenizer.ggml.model': { type: 'string', value: 'llama' },
      'tokenizer.ggml.tokens': { type: 'array', itemType: 'string', values: tokens },
      'tokenizer.ggml.scores': { type: 'array', itemType: 'f32', values: tokens.map(() => 0) },
      'tokenizer.ggml.token_type': { type: 'array', itemType: 'i32', values: types },
      'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
      'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
      'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
      'tokenizer.chat_template': { type: 'string', value: "{% for m in messages %}{{ m['content'] }}\n{% endfor %}" },
    },
    tensors,
    fill: (t, out) => {
      if (t.type === 0) for (let i = 0; i + 4 <= out.length; i += 4) out.writeFloatLE(t.dims.length === 1 ? 1 : rnd() * 0.1, i)
      else if (t.type === 1) for (let i = 0; i + 2 <= out.length; i += 2) out.writeUInt16LE(f16(rnd() * 0.1), i)
      else out.fill(0)
    },
  })
  return { vocab }
}

/** float → IEEE half bits (enough precision for random weights). */
function f16(x: number): number {
  const f = new Float32Array([x])
  const u = new Uint32Array(f.buffer)[0] ?? 0
  const sign = (u >>> 16) & 0x8000
  const exp = ((u >>> 23) & 0xff) - 127 + 15
  if (exp <= 0) return sign
  if (exp >= 31) return sign | 0x7c00
  return sign | (exp << 10) | ((u >>> 13) & 0x3ff)
}
