/**
 * Writes GGUF files byte by byte for the reader and estimate tests: any metadata types,
 * any tensor types (data filled with zeros, or left out to make a header-only file).
 */
import { writeFile } from 'node:fs/promises'

export type WriterValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'u64' | 'i64' | 'f64'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | {
      type: 'array'
      itemType: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'u64' | 'i64' | 'f64' | 'bool' | 'string'
      values: readonly (number | boolean | string)[]
    }

export interface WriterTensor {
  name: string
  dims: number[]
  /** ggml type id */
  type: number
  /** bytes of data (must match type and dims for a loadable file) */
  bytes: number
}

export interface WriteGgufOptions {
  version?: number
  alignment?: number
  metadata: Record<string, WriterValue>
  tensors?: WriterTensor[]
  /** Write the tensor data section (zeros, or `fill`). Default true. */
  withData?: boolean
  fill?: (tensor: WriterTensor, out: Buffer) => void
}

const TYPE_IDS = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const

class Out {
  parts: Buffer[] = []
  length = 0
  push(b: Buffer): void {
    this.parts.push(b)
    this.length += b.length
  }
  u32(v: number): void {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(v)
    this.push(b)
  }
  u64(v: number): void {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(BigInt(v))
    this.push(b)
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8')
    this.u64(b.length)
    this.push(b)
  }
  scalar(type: string, v: number | boolean | string): void {
    const b = Buffer.alloc(8)
    switch (type) {
      case 'u8':
        b.writeUInt8(v as number)
        this.push(b.subarray(0, 1))
        return
      case 'i8':
        b.writeInt8(v as number)
        this.push(b.subarray(0, 1))
        return
      case 'u16':
        b.writeUInt16LE(v as number)
        this.push(b.subarray(0, 2))
        return
      case 'i16':
        b.writeInt16LE(v as number)
        this.push(b.subarray(0, 2))
        return
      case 'u32':
        b.writeUInt32LE(v as number)
        this.push(b.subarray(0, 4))
        return
      case 'i32':
        b.writeInt32LE(v as number)
        this.push(b.subarray(0, 4))
        return
      case 'f32':
        b.writeFloatLE(v as number)
        this.push(b.subarray(0, 4))
        return
      case 'bool':
        b.writeUInt8(v ? 1 : 0)
        this.push(b.subarray(0, 1))
        return
      case 'u64':
        b.writeBigUInt64LE(BigInt(v as number))
        this.push(b)
        return
      case 'i64':
        b.writeBigInt64LE(BigInt(v as number))
        this.push(b)
        return
      case 'f64':
        b.writeDoubleLE(v as number)
        this.push(b)
        return
      case 'string':
        this.str(v as string)
        return
      default:
        throw new Error(`unknown type ${type}`)
    }
  }
}

/** The bytes of a GGUF file. */
export function ggufBytes(opts: WriteGgufOptions): Buffer {
  const o = new Out()
  const alignment = opts.alignment ?? 32
  const tensors = opts.tensors ?? []
  o.push(Buffer.from('GGUF', 'latin1'))
  o.u32(opts.version ?? 3)
  o.u64(tensors.length)
  o.u64(Object.keys(opts.metadata).length)
  for (const [key, v] of Object.entries(opts.metadata)) {
    o.str(key)
    o.u32(TYPE_IDS[v.type])
    if (v.type === 'array') {
      o.u32(TYPE_IDS[v.itemType])
      o.u64(v.values.length)
      for (const x of v.values) o.scalar(v.itemType, x)
    } else {
      o.scalar(v.type, v.value)
    }
  }
  let offset = 0
  const offsets: number[] = []
  for (const t of tensors) {
    offsets.push(offset)
    o.str(t.name)
    o.u32(t.dims.length)
    for (const d of t.dims) o.u64(d)
    o.u32(t.type)
    o.u64(offset)
    offset += Math.ceil(t.bytes / alignment) * alignment
  }
  if (opts.withData === false) return Buffer.concat(o.parts)
  const pad = Math.ceil(o.length / alignment) * alignment - o.length
  o.push(Buffer.alloc(pad))
  const data = Buffer.alloc(offset)
  tensors.forEach((t, i) => opts.fill?.(t, data.subarray(offsets[i], (offsets[i] ?? 0) + t.bytes)))
  o.push(data)
  return Buffer.concat(o.parts)
}

export async function writeGguf(path: string, opts: WriteGgufOptions): Promise<void> {
  await writeFile(path, ggufBytes(opts))
}
