/**
 * A forward-only little-endian reader over a file that pulls it in in chunks, so that
 * reading a GGUF header never loads the tensor data (tens of GB) and a 150k-entry token
 * array is skipped without holding it. Errors name the file and the byte offset.
 */
import type { FileHandle } from 'node:fs/promises'

const CHUNK = 1 << 20

export class FileCursor {
  private buf: Buffer = Buffer.alloc(0)
  /** Position of `buf[0]` in the file. */
  private bufStart = 0
  /** Read position relative to `buf`. */
  private at = 0
  private readonly handle: FileHandle
  private readonly path: string
  private readonly size: number
  private readonly signal: AbortSignal | undefined

  constructor(handle: FileHandle, path: string, size: number, signal?: AbortSignal) {
    this.handle = handle
    this.path = path
    this.size = size
    this.signal = signal
  }

  /** Absolute file offset of the next byte to read. */
  get position(): number {
    return this.bufStart + this.at
  }

  /** An error naming the file and where in it the problem is. */
  fail(problem: string): Error {
    return new Error(`${this.path}: ${problem} (at byte ${this.position})`)
  }

  /** Makes sure `n` bytes are buffered at the read position. */
  async need(n: number): Promise<void> {
    if (this.at + n <= this.buf.length) return
    this.signal?.throwIfAborted()
    if (this.position + n > this.size) throw this.fail(`file ends early: needs ${n} more bytes, ${this.size - this.position} left`)
    const keep = this.buf.subarray(this.at)
    const want = Math.max(n, CHUNK)
    const next = Buffer.allocUnsafe(Math.min(want, this.size - this.position))
    keep.copy(next, 0)
    let filled = keep.length
    while (filled < next.length) {
      const { bytesRead } = await this.handle.read(next, filled, next.length - filled, this.position + filled)
      if (bytesRead === 0) throw this.fail('file ends early while reading')
      filled += bytesRead
    }
    this.bufStart = this.position
    this.buf = next
    this.at = 0
  }

  /** Whether `n` bytes can be read without touching the disk (the fast path for big arrays). */
  has(n: number): boolean {
    return this.at + n <= this.buf.length
  }

  async skip(n: number): Promise<void> {
    if (this.at + n <= this.buf.length) {
      this.at += n
      return
    }
    const target = this.position + n
    if (target > this.size) throw this.fail(`file ends early: cannot skip ${n} bytes`)
    this.bufStart = target
    this.buf = Buffer.alloc(0)
    this.at = 0
  }

  // Fixed-width reads. The async ones fill the buffer first; the `*Now` ones assume `has()`.

  async u8(): Promise<number> {
    await this.need(1)
    return this.u8Now()
  }
  async u32(): Promise<number> {
    await this.need(4)
    return this.u32Now()
  }
  async u64(): Promise<number> {
    await this.need(8)
    return this.u64Now()
  }

  u8Now(): number {
    return this.buf.readUInt8(this.at++)
  }
  u32Now(): number {
    const v = this.buf.readUInt32LE(this.at)
    this.at += 4
    return v
  }
  i8Now(): number {
    return this.buf.readInt8(this.at++)
  }
  u16Now(): number {
    const v = this.buf.readUInt16LE(this.at)
    this.at += 2
    return v
  }
  i16Now(): number {
    const v = this.buf.readInt16LE(this.at)
    this.at += 2
    return v
  }
  i32Now(): number {
    const v = this.buf.readInt32LE(this.at)
    this.at += 4
    return v
  }
  f32Now(): number {
    const v = this.buf.readFloatLE(this.at)
    this.at += 4
    return v
  }
  f64Now(): number {
    const v = this.buf.readDoubleLE(this.at)
    this.at += 8
    return v
  }
  /** 64-bit integers as numbers: metadata values past 2^53 do not occur in practice. */
  u64Now(): number {
    const v = this.buf.readBigUInt64LE(this.at)
    this.at += 8
    return Number(v)
  }
  i64Now(): number {
    const v = this.buf.readBigInt64LE(this.at)
    this.at += 8
    return Number(v)
  }

  /** A GGUF string: u64 byte length, then UTF-8 bytes. */
  async string(maxBytes = 1 << 24): Promise<string> {
    const len = await this.u64()
    if (len > maxBytes) throw this.fail(`string of ${len} bytes is implausibly long`)
    await this.need(len)
    const s = this.buf.toString('utf8', this.at, this.at + len)
    this.at += len
    return s
  }

  /** Skips `count` GGUF strings, touching the disk only when the buffer runs dry. */
  async skipStrings(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      if (!this.has(8)) await this.need(8)
      const len = this.u64Now()
      if (len > this.size) throw this.fail(`string of ${len} bytes is longer than the file`)
      await this.skip(len)
    }
  }
}
