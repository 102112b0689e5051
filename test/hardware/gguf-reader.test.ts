import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ggmlBytes, ggmlType, readGgufFile, readGgufInfo } from '../../src/hardware/index.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { ggufBytes, writeGguf, type WriterTensor } from './gguf-writer.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-gguf-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const llamaMeta = {
  'general.architecture': { type: 'string', value: 'llama' },
  'llama.block_count': { type: 'u32', value: 2 },
  'llama.embedding_length': { type: 'u32', value: 256 },
  'llama.attention.head_count': { type: 'u32', value: 8 },
  'llama.context_length': { type: 'u32', value: 8192 },
} as const

describe('readGgufFile', () => {
  it('reads every scalar metadata type with its value', async () => {
    const path = join(dir, 'scalars.gguf')
    await writeGguf(path, {
      metadata: {
        'general.architecture': { type: 'string', value: 'llama' },
        u8: { type: 'u8', value: 200 },
        i8: { type: 'i8', value: -100 },
        u16: { type: 'u16', value: 60000 },
        i16: { type: 'i16', value: -30000 },
        u32: { type: 'u32', value: 4_000_000_000 },
        i32: { type: 'i32', value: -2_000_000_000 },
        f32: { type: 'f32', value: 0.5 },
        bool: { type: 'bool', value: true },
        str: { type: 'string', value: 'héllo ▁wörld' },
        u64: { type: 'u64', value: 2 ** 40 },
        i64: { type: 'i64', value: -(2 ** 40) },
        f64: { type: 'f64', value: 1e-300 },
      },
    })
    const file = await readGgufFile(path)
    expect(Object.fromEntries(file.metadata)).toEqual({
      'general.architecture': 'llama',
      u8: 200,
      i8: -100,
      u16: 60000,
      i16: -30000,
      u32: 4_000_000_000,
      i32: -2_000_000_000,
      f32: 0.5,
      bool: true,
      str: 'héllo ▁wörld',
      u64: 2 ** 40,
      i64: -(2 ** 40),
      f64: 1e-300,
    })
    expect(file.version).toBe(3)
    expect(file.tensors).toEqual([])
  })

  it('keeps small arrays and counts big ones without keeping them', async () => {
    const path = join(dir, 'arrays.gguf')
    const tokens = Array.from({ length: 50_000 }, (_, i) => `token-${i}-${'x'.repeat(i % 40)}`)
    await writeGguf(path, {
      metadata: {
        'general.architecture': { type: 'string', value: 'llama' },
        'llama.attention.head_count_kv': { type: 'array', itemType: 'i32', values: [8, 8, 0, 4] },
        'small.strings': { type: 'array', itemType: 'string', values: ['a', 'bc'] },
        'small.bools': { type: 'array', itemType: 'bool', values: [true, false] },
        'tokenizer.ggml.tokens': { type: 'array', itemType: 'string', values: tokens },
        'tokenizer.ggml.scores': { type: 'array', itemType: 'f32', values: tokens.map(() => 0) },
        after: { type: 'string', value: 'still read correctly' },
      },
    })
    const md = (await readGgufFile(path)).metadata
    expect(md.get('llama.attention.head_count_kv')).toEqual({ itemType: 5, length: 4, values: [8, 8, 0, 4] })
    expect(md.get('small.strings')).toEqual({ itemType: 8, length: 2, values: ['a', 'bc'] })
    expect(md.get('small.bools')).toEqual({ itemType: 7, length: 2, values: [true, false] })
    expect(md.get('tokenizer.ggml.tokens')).toEqual({ itemType: 8, length: 50_000, values: undefined })
    expect(md.get('tokenizer.ggml.scores')).toEqual({ itemType: 6, length: 50_000, values: undefined })
    expect(md.get('after')).toBe('still read correctly')
  })

  it('reads tensor infos and finds the aligned data offset without reading the data', async () => {
    const path = join(dir, 'tensors.gguf')
    const tensors: WriterTensor[] = [
      { name: 'a', dims: [64, 3], type: 0, bytes: 64 * 3 * 4 },
      { name: 'b', dims: [256, 2, 1], type: 12, bytes: 2 * 144 },
    ]
    // Header only: a reader that touched the tensor data would run off the end of the file.
    const metadata = { ...llamaMeta, 'general.alignment': { type: 'u32', value: 64 } } as const
    const header = ggufBytes({ metadata, tensors, alignment: 64, withData: false })
    await writeFile(path, header)
    const file = await readGgufFile(path)
    expect(file.alignment).toBe(64)
    expect(file.dataOffset).toBe(Math.ceil(header.length / 64) * 64)
    expect(file.tensors).toEqual([
      { name: 'a', dims: [64, 3], type: 0, offset: 0 },
      { name: 'b', dims: [256, 2, 1], type: 12, offset: 768 },
    ])
  })

  it('reads a GGUF v2 file', async () => {
    const path = join(dir, 'v2.gguf')
    await writeGguf(path, { version: 2, metadata: llamaMeta })
    expect((await readGgufFile(path)).version).toBe(2)
  })

  it('rejects files that are not GGUF with a message naming the file', async () => {
    const path = join(dir, 'not.gguf')
    await writeFile(path, 'this is a text file, not a model at all')
    await expect(readGgufFile(path)).rejects.toThrow(`${path}: not a GGUF file (magic bytes are not "GGUF")`)
    const short = join(dir, 'short.gguf')
    await writeFile(short, 'GGUF')
    await expect(readGgufFile(short)).rejects.toThrow(`${short}: not a GGUF file (only 4 bytes)`)
    await expect(readGgufFile(join(dir, 'missing.gguf'))).rejects.toThrow(/missing\.gguf: cannot open GGUF file/)
  })

  it('rejects GGUF v1, big-endian and truncated files clearly', async () => {
    const v1 = join(dir, 'v1.gguf')
    await writeGguf(v1, { version: 1, metadata: llamaMeta })
    await expect(readGgufFile(v1)).rejects.toThrow('GGUF v1 is not supported')
    const be = join(dir, 'be.gguf')
    await writeGguf(be, { version: 0x03000000, metadata: llamaMeta })
    await expect(readGgufFile(be)).rejects.toThrow('big-endian GGUF files are not supported')
    const cut = join(dir, 'cut.gguf')
    const whole = ggufBytes({ metadata: { ...llamaMeta, 'general.name': { type: 'string', value: 'x'.repeat(100) } } })
    await writeFile(cut, whole.subarray(0, whole.length - 50))
    await expect(readGgufFile(cut)).rejects.toThrow(/cut\.gguf: file ends early/)
  })

  it('stops when its signal is aborted', async () => {
    const path = join(dir, 'abort.gguf')
    await writeGguf(path, { metadata: llamaMeta })
    await expect(readGgufFile(path, { signal: AbortSignal.abort() })).rejects.toThrow(/aborted/)
  })
})

describe('readGgufInfo', () => {
  it('sums tensor bytes by ggml block sizes for common quantization types', async () => {
    const path = join(dir, 'quants.gguf')
    const types: [number, number][] = [
      [0, 4 * 256],
      [1, 2 * 256],
      [30, 2 * 256],
      [2, 8 * 18],
      [3, 8 * 20],
      [6, 8 * 22],
      [7, 8 * 24],
      [8, 8 * 34],
      [10, 84],
      [11, 110],
      [12, 144],
      [13, 176],
      [14, 210],
      [15, 292],
      [16, 66],
      [17, 74],
      [18, 98],
      [19, 50],
      [20, 8 * 18],
      [21, 110],
      [22, 82],
      [23, 136],
      [29, 56],
      [34, 54],
      [35, 66],
      [39, 8 * 17],
    ]
    const tensors = types.map(([type, bytes], i) => ({ name: `blk.0.t${i}.weight`, dims: [256], type, bytes }))
    await writeGguf(path, { metadata: llamaMeta, tensors })
    const info = await readGgufInfo(path)
    expect(info.tensorBytes).toBe(types.reduce((a, [, b]) => a + b, 0))
    expect(info.parameterCount).toBe(256 * types.length)
    for (const [type, bytes] of types) expect(ggmlBytes(ggmlType(type)!, 256)).toBe(bytes)
  })

  it('names an unknown tensor type instead of guessing its size', async () => {
    const path = join(dir, 'unknown-type.gguf')
    await writeGguf(path, { metadata: llamaMeta, tensors: [{ name: 'x', dims: [32], type: 99, bytes: 32 }] })
    await expect(readGgufInfo(path)).rejects.toThrow(`${path}: tensor x has unknown ggml type 99`)
  })

  it('derives the model facts from the shared tiny fixture', async () => {
    const path = join(dir, 'tiny.gguf')
    const written = await writeTinyGguf(path, { contextLength: 4096 })
    const info = await readGgufInfo(path)
    expect(info).toMatchObject({
      architecture: 'llama',
      name: 'tiny',
      version: 3,
      blockCount: 2,
      embeddingLength: 64,
      headCount: 4,
      headCountKv: 4,
      contextLength: 4096,
      vocabSize: written.params.vocabSize,
      fileType: 1,
      fileTypeName: 'MOSTLY_F16',
      tensorCount: written.tensors.length,
      fileSize: written.bytes,
    })
    expect(info.tensorBytes).toBe(written.tensors.reduce((a, t) => a + t.bytes, 0))
    expect(info.dataOffset + info.tensorBytes).toBeLessThanOrEqual(written.bytes)
  })

  it('reads per-layer head counts and explicit key/value lengths', async () => {
    const path = join(dir, 'per-layer.gguf')
    await writeGguf(path, {
      metadata: {
        ...llamaMeta,
        'llama.attention.head_count_kv': { type: 'array', itemType: 'u32', values: [2, 0] },
        'llama.attention.key_length': { type: 'u32', value: 128 },
        'llama.attention.value_length': { type: 'u32', value: 96 },
        'llama.vocab_size': { type: 'u32', value: 32000 },
      },
    })
    const info = await readGgufInfo(path)
    expect(info).toMatchObject({ headCountKv: [2, 0], keyLength: 128, valueLength: 96, vocabSize: 32000 })
  })
})
