/**
 * The facts about a GGUF model that memory planning needs, pulled out of its metadata and
 * tensor infos. Keys follow llama.cpp's `LLM_KV_*` names (`<arch>.block_count`, …).
 */
import { fileTypeName, ggmlBytes, ggmlType } from './ggml-types.ts'
import { isGgufArray, readGgufFile, type GgufFile, type GgufTensorInfo, type GgufValue } from './gguf-reader.ts'

export interface GgufInfo {
  readonly path: string
  readonly version: number
  readonly architecture: string
  readonly name: string | undefined
  /** Sum of all tensors' element counts. */
  readonly parameterCount: number
  readonly fileType: number | undefined
  readonly fileTypeName: string | undefined
  readonly blockCount: number
  readonly embeddingLength: number
  readonly feedForwardLength: number | readonly number[] | undefined
  readonly headCount: number | readonly number[]
  /** Per layer when the model varies it (defaults to `headCount`). */
  readonly headCountKv: number | readonly number[]
  readonly keyLength: number | undefined
  readonly valueLength: number | undefined
  readonly contextLength: number
  readonly vocabSize: number
  readonly slidingWindow: number | undefined
  readonly expertCount: number | undefined
  readonly tensorCount: number
  /** Bytes of all tensor data, by ggml type and block sizes. */
  readonly tensorBytes: number
  readonly dataOffset: number
  readonly fileSize: number
  readonly metadata: ReadonlyMap<string, GgufValue>
  readonly tensors: readonly GgufTensorInfo[]
}

/** The first part of a split model as llama.cpp's gguf-split names it: `name-00001-of-00003.gguf`. */
const FIRST_SPLIT_PART = /^(.*-)00001-of-(\d{5})\.gguf$/i

/**
 * Reads a GGUF file's header, metadata and tensor infos (never the tensor data). For the
 * first part of a split model the other parts' tensor infos are read too (gguf-split keeps
 * the metadata in the first part only), so counts and estimates cover the whole model.
 */
export async function readGgufInfo(path: string, options: { signal?: AbortSignal } = {}): Promise<GgufInfo> {
  const info = ggufInfo(path, await readGgufFile(path, options))
  const split = FIRST_SPLIT_PART.exec(path)
  const count = Number(split?.[2] ?? 1)
  if (split === null || count <= 1) return info
  const parts: { path: string; file: GgufFile }[] = []
  for (let i = 2; i <= count; i++) {
    const part = `${split[1]}${String(i).padStart(5, '0')}-of-${split[2]}.gguf`
    parts.push({ path: part, file: await readGgufFile(part, options) })
  }
  return withParts(info, parts)
}

/** A split model's first-part facts with the tensors, parameters and bytes of its other parts added. */
export function withParts(info: GgufInfo, parts: readonly { path: string; file: GgufFile }[]): GgufInfo {
  if (parts.length === 0) return info
  let parameterCount = info.parameterCount
  let tensorBytes = info.tensorBytes
  let fileSize = info.fileSize
  const tensors = [...info.tensors]
  for (const p of parts) {
    for (const t of p.file.tensors) {
      tensors.push(t)
      parameterCount += elementCount(t)
      tensorBytes += tensorDataBytes(p.path, t)
    }
    fileSize += p.file.fileSize
  }
  return { ...info, tensors, tensorCount: tensors.length, parameterCount, tensorBytes, fileSize }
}

/** Bytes one tensor's data occupies. Throws for a type this build does not know. */
export function tensorDataBytes(path: string, t: GgufTensorInfo): number {
  const type = ggmlType(t.type)
  if (!type) throw new Error(`${path}: tensor ${t.name} has unknown ggml type ${t.type}`)
  return ggmlBytes(type, elementCount(t))
}

export function elementCount(t: GgufTensorInfo): number {
  return t.dims.reduce((a, b) => a * b, 1)
}

export function ggufInfo(path: string, file: GgufFile): GgufInfo {
  const md = file.metadata
  const arch = str(md.get('general.architecture'))
  if (!arch) throw new Error(`${path}: GGUF file has no general.architecture`)
  const key = (k: string): GgufValue | undefined => md.get(`${arch}.${k}`)

  let parameterCount = 0
  let tensorBytes = 0
  for (const t of file.tensors) {
    parameterCount += elementCount(t)
    tensorBytes += tensorDataBytes(path, t)
  }

  const headCount = numOrArray(key('attention.head_count')) ?? 0
  const tokenEmbd = file.tensors.find((t) => t.name === 'token_embd.weight')
  const tokens = md.get('tokenizer.ggml.tokens')
  const vocabSize = num(key('vocab_size')) ?? (isGgufArray(tokens) ? tokens.length : undefined) ?? tokenEmbd?.dims[1] ?? 0
  const fileType = num(md.get('general.file_type'))

  return {
    path,
    version: file.version,
    architecture: arch,
    name: str(md.get('general.name')),
    parameterCount,
    fileType,
    fileTypeName: fileType === undefined ? undefined : fileTypeName(fileType),
    blockCount: num(key('block_count')) ?? 0,
    embeddingLength: num(key('embedding_length')) ?? 0,
    feedForwardLength: numOrArray(key('feed_forward_length')),
    headCount,
    headCountKv: numOrArray(key('attention.head_count_kv')) ?? headCount,
    keyLength: num(key('attention.key_length')),
    valueLength: num(key('attention.value_length')),
    contextLength: num(key('context_length')) ?? 0,
    vocabSize,
    slidingWindow: num(key('attention.sliding_window')),
    expertCount: num(key('expert_count')),
    tensorCount: file.tensors.length,
    tensorBytes,
    dataOffset: file.dataOffset,
    fileSize: file.fileSize,
    metadata: md,
    tensors: file.tensors,
  }
}

/** A per-layer value (head counts may be arrays) for layer `il`. */
export function perLayer(v: number | readonly number[], il: number): number {
  return typeof v === 'number' ? v : (v[il] ?? 0)
}

function num(v: GgufValue | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined
}

function str(v: GgufValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined
}

function numOrArray(v: GgufValue | undefined): number | readonly number[] | undefined {
  if (typeof v === 'number') return v
  if (isGgufArray(v) && v.values?.every((x) => typeof x === 'number')) return v.values as readonly number[]
  return undefined
}
