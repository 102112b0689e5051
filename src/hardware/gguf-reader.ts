/**
 * The GGUF container (v2/v3, little-endian): header, metadata key/values, tensor infos.
 * Layout per ggml/src/gguf.cpp: magic "GGUF", u32 version, u64 tensor count, u64 kv count,
 * then the kvs, then per tensor: name, u32 n_dims, u64 dims[n_dims], u32 type, u64 offset;
 * tensor data starts at the next multiple of `general.alignment` (default 32).
 */
import { open } from 'node:fs/promises'
import { FileCursor } from './gguf-cursor.ts'

/** GGUF metadata value types (gguf_type). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType]

const FIXED_SIZE: Readonly<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 }

export type GgufScalar = number | boolean | string

/** An array value. `values` is kept only for arrays of at most `MAX_KEPT_ARRAY` items (not the token list). */
export interface GgufArray {
  readonly itemType: GgufValueType
  readonly length: number
  readonly values: readonly GgufScalar[] | undefined
}

export type GgufValue = GgufScalar | GgufArray

export interface GgufTensorInfo {
  readonly name: string
  /** ne[0], ne[1], … (ne[0] is the contiguous dimension). */
  readonly dims: readonly number[]
  readonly type: number
  /** Offset of the data relative to the start of the data section. */
  readonly offset: number
}

export interface GgufFile {
  readonly version: number
  readonly metadata: ReadonlyMap<string, GgufValue>
  readonly tensors: readonly GgufTensorInfo[]
  readonly alignment: number
  /** Absolute file offset where tensor data begins. */
  readonly dataOffset: number
  readonly fileSize: number
}

/** Arrays longer than this are counted and skipped (tokenizer vocabularies, merges, scores). */
export const MAX_KEPT_ARRAY = 1024
const GGUF_MAGIC = 0x46554747 // "GGUF" read as a little-endian u32
const MAX_DIMS = 4

export function isGgufArray(v: GgufValue | undefined): v is GgufArray {
  return typeof v === 'object' && v !== null
}

/** Reads the header, metadata and tensor infos of a GGUF file; never its tensor data. */
export async function readGgufFile(path: string, options: { signal?: AbortSignal } = {}): Promise<GgufFile> {
  options.signal?.throwIfAborted()
  let handle
  try {
    handle = await open(path, 'r')
  } catch (err: unknown) {
    throw new Error(`${path}: cannot open GGUF file: ${(err as Error).message}`, { cause: err })
  }
  try {
    const { size } = await handle.stat()
    const c = new FileCursor(handle, path, size, options.signal)
    if (size < 24) throw new Error(`${path}: not a GGUF file (only ${size} bytes)`)
    const magic = await c.u32()
    if (magic !== GGUF_MAGIC) throw new Error(`${path}: not a GGUF file (magic bytes are not "GGUF")`)
    const version = await c.u32()
    // A big-endian file reads as a version with the low bytes zero (3 → 0x03000000).
    if (version > 0xffff && (version & 0xffff) === 0) throw new Error(`${path}: big-endian GGUF files are not supported`)
    if (version === 1) throw new Error(`${path}: GGUF v1 is not supported (re-convert the model)`)
    if (version !== 2 && version !== 3) throw new Error(`${path}: unsupported GGUF version ${version}`)
    const tensorCount = await c.u64()
    const kvCount = await c.u64()
    // Each kv and tensor info takes at least 8+4 bytes; more than fit in the file means corruption.
    if (tensorCount > size / 12 || kvCount > size / 12) throw c.fail(`implausible counts (${tensorCount} tensors, ${kvCount} keys)`)

    const metadata = new Map<string, GgufValue>()
    for (let i = 0; i < kvCount; i++) {
      const key = await c.string(65_535)
      const type = await c.u32()
      metadata.set(key, await readValue(c, type, key))
    }

    const tensors: GgufTensorInfo[] = []
    for (let i = 0; i < tensorCount; i++) {
      const name = await c.string(65_535)
      const nDims = await c.u32()
      if (nDims > MAX_DIMS) throw c.fail(`tensor ${name} has ${nDims} dimensions (max ${MAX_DIMS})`)
      await c.need(nDims * 8 + 12)
      const dims: number[] = []
      for (let d = 0; d < nDims; d++) dims.push(c.u64Now())
      tensors.push({ name, dims, type: c.u32Now(), offset: c.u64Now() })
    }

    const alignValue = metadata.get('general.alignment')
    const alignment = typeof alignValue === 'number' && alignValue > 0 ? alignValue : 32
    const dataOffset = Math.ceil(c.position / alignment) * alignment
    return { version, metadata, tensors, alignment, dataOffset, fileSize: size }
  } finally {
    await handle.close()
  }
}

async function readValue(c: FileCursor, type: number, key: string): Promise<GgufValue> {
  if (type === GgufValueType.STRING) return c.string()
  if (type === GgufValueType.ARRAY) {
    const itemType = await c.u32()
    const length = await c.u64()
    if (itemType === GgufValueType.ARRAY) throw c.fail(`${key}: nested arrays are not valid GGUF`)
    if (length > MAX_KEPT_ARRAY) {
      if (itemType === GgufValueType.STRING) await c.skipStrings(length)
      else await c.skip(length * fixedSize(c, itemType, key))
      return { itemType: itemType as GgufValueType, length, values: undefined }
    }
    const values: GgufScalar[] = []
    for (let i = 0; i < length; i++) values.push((await readValue(c, itemType, key)) as GgufScalar)
    return { itemType: itemType as GgufValueType, length, values }
  }
  await c.need(fixedSize(c, type, key))
  switch (type) {
    case GgufValueType.UINT8:
      return c.u8Now()
    case GgufValueType.INT8:
      return c.i8Now()
    case GgufValueType.UINT16:
      return c.u16Now()
    case GgufValueType.INT16:
      return c.i16Now()
    case GgufValueType.UINT32:
      return c.u32Now()
    case GgufValueType.INT32:
      return c.i32Now()
    case GgufValueType.FLOAT32:
      return c.f32Now()
    case GgufValueType.BOOL:
      return c.u8Now() !== 0
    case GgufValueType.UINT64:
      return c.u64Now()
    case GgufValueType.INT64:
      return c.i64Now()
    default:
      return c.f64Now()
  }
}

function fixedSize(c: FileCursor, type: number, key: string): number {
  const size = FIXED_SIZE[type]
  if (size === undefined) throw c.fail(`${key}: unknown value type ${type}`)
  return size
}
