/**
 * The forward protocol's framing: a tagged, length-prefixed frame
 *
 *   type (u8) | payload length (u32 big-endian) | payload
 *
 * A fixed 5-byte header (rather than a varint) keeps the decoder a few lines and lets it
 * reject a bad frame from its first bytes, before buffering anything.
 */

export const FrameType = {
  /** client → server: JSON RequestHead. */
  RequestHead: 1,
  /** Either way: raw body bytes. */
  Body: 2,
  /** server → client: JSON ResponseHead. */
  ResponseHead: 3,
  /** server → client: JSON EndMessage; the stream is ready for the next request after it. */
  End: 4,
  /** server → client: nothing to say yet, but alive (keeps the client's silence timer quiet). */
  KeepAlive: 5,
} as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

const TYPES = new Set<number>(Object.values(FrameType))

export const FRAME_HEADER_BYTES = 5
/** Body chunks larger than this are split; heads must fit. */
export const MAX_FRAME_PAYLOAD = 1024 * 1024

export interface Frame {
  type: FrameType
  payload: Uint8Array
}

/** What was wrong: an unknown type byte, a length over the limit, a payload that is not JSON or not the expected message, or a frame out of order. */
export type FrameErrorKind = 'type' | 'length' | 'json' | 'schema' | 'sequence'

export class FrameError extends Error {
  readonly code = 'ERR_FRAME'
  readonly kind: FrameErrorKind
  constructor(message: string, kind: FrameErrorKind = 'sequence') {
    super(message)
    this.name = 'FrameError'
    this.kind = kind
  }
}

/** One frame as one buffer (a single `stream.send`, so one muxer frame on the wire). */
export function encodeFrame(type: FrameType, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (payload.byteLength > MAX_FRAME_PAYLOAD) {
    throw new FrameError(`frame payload of ${payload.byteLength} bytes exceeds ${MAX_FRAME_PAYLOAD}`, 'length')
  }
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength)
  out.writeUInt8(type, 0)
  out.writeUInt32BE(payload.byteLength, 1)
  out.set(payload, FRAME_HEADER_BYTES)
  return out
}

/** The 5-byte header of a frame whose payload the caller sends right after it (to join frames without copying the payload twice). */
export function encodeFrameHeader(type: FrameType, payloadBytes: number): Uint8Array {
  if (payloadBytes > MAX_FRAME_PAYLOAD) throw new FrameError(`frame payload of ${payloadBytes} bytes exceeds ${MAX_FRAME_PAYLOAD}`, 'length')
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  out.writeUInt8(type, 0)
  out.writeUInt32BE(payloadBytes, 1)
  return out
}

/** The JSON written straight after the header: one buffer, no intermediate copy. */
export function encodeJsonFrame(type: FrameType, value: unknown): Uint8Array {
  const json = JSON.stringify(value)
  const bytes = Buffer.byteLength(json, 'utf8')
  if (bytes > MAX_FRAME_PAYLOAD) throw new FrameError(`frame payload of ${bytes} bytes exceeds ${MAX_FRAME_PAYLOAD}`, 'length')
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bytes)
  out.writeUInt8(type, 0)
  out.writeUInt32BE(bytes, 1)
  out.write(json, FRAME_HEADER_BYTES, 'utf8')
  return out
}

export function parseJsonPayload(frame: Frame): unknown {
  try {
    return JSON.parse(Buffer.from(frame.payload.buffer, frame.payload.byteOffset, frame.payload.byteLength).toString('utf8'))
  } catch {
    throw new FrameError(`frame of type ${frame.type} does not hold valid JSON`, 'json')
  }
}

/**
 * Incremental decoder: push chunks as they arrive, take whole frames out. It keeps the
 * chunks as they came and copies only a frame that straddles two of them.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = []
  private buffered = 0

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.buffered
  }

  push(chunk: Uint8Array | Iterable<Uint8Array>): void {
    if (chunk instanceof Uint8Array) {
      this.add(chunk)
    } else {
      for (const part of chunk) this.add(part)
    }
  }

  /**
   * The next whole frame, or null until more bytes arrive. Throws FrameError on a malformed
   * header, or one announcing more than `maxPayload` bytes (checked before any payload is
   * waited for, so a caller expecting a small frame need not buffer a large one).
   */
  next(maxPayload = MAX_FRAME_PAYLOAD): Frame | null {
    if (this.buffered < FRAME_HEADER_BYTES) return null
    const header = this.peek(FRAME_HEADER_BYTES)
    const type = header[0] ?? 0
    if (!TYPES.has(type)) throw new FrameError(`unknown frame type ${type}`, 'type')
    const length = Buffer.from(header.buffer, header.byteOffset, header.byteLength).readUInt32BE(1)
    const limit = Math.min(maxPayload, MAX_FRAME_PAYLOAD)
    if (length > limit) throw new FrameError(`frame length ${length} exceeds ${limit}`, 'length')
    if (this.buffered < FRAME_HEADER_BYTES + length) return null
    this.consume(FRAME_HEADER_BYTES)
    const payload = length === 0 ? new Uint8Array(0) : this.take(length)
    return { type: type as FrameType, payload }
  }

  private add(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.byteLength
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0]
    if (first !== undefined && first.byteLength >= n) return first.subarray(0, n)
    return this.copy(n)
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0]
    if (first !== undefined && first.byteLength >= n) {
      const out = first.subarray(0, n)
      this.consume(n)
      return out
    }
    const out = this.copy(n)
    this.consume(n)
    return out
  }

  private copy(n: number): Uint8Array {
    const out = new Uint8Array(n)
    let offset = 0
    for (const chunk of this.chunks) {
      const part = chunk.subarray(0, Math.min(chunk.byteLength, n - offset))
      out.set(part, offset)
      offset += part.byteLength
      if (offset === n) break
    }
    return out
  }

  private consume(n: number): void {
    this.buffered -= n
    while (n > 0) {
      const first = this.chunks[0]
      if (first === undefined) return
      if (first.byteLength <= n) {
        n -= first.byteLength
        this.chunks.shift()
      } else {
        this.chunks[0] = first.subarray(n)
        n = 0
      }
    }
  }
}
