/**
 * Property-based fuzz of the forward protocol's decoder and message schemas: whatever a
 * peer sends, in whatever chunks, the decoder yields frames, waits, or throws FrameError;
 * it never waits on more than one header plus the largest payload allowed; valid frames
 * come back as they went in.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FRAME_HEADER_BYTES, FrameDecoder, FrameError, FrameType, encodeFrame, type Frame } from '../../src/mesh/frame.ts'
import { MAX_HEAD_HEADERS, endSchema, parseFrame, requestHeadSchema, responseHeadSchema } from '../../src/mesh/forward-messages.ts'

const RUNS = { numRuns: 400 }
const TYPES = Object.values(FrameType)

/** Splits `bytes` at the given cut points (any order, duplicates fine). */
function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let from = 0
  for (const p of points) {
    out.push(bytes.subarray(from, p))
    from = p
  }
  out.push(bytes.subarray(from))
  return out
}

/** Feeds chunks, draining after each; returns the frames and the error that ended it, if any. */
function decodeAll(chunks: Uint8Array[], maxPayload?: number): { frames: Frame[]; error: unknown; maxWaiting: number } {
  const decoder = new FrameDecoder()
  const frames: Frame[] = []
  let maxWaiting = 0
  try {
    for (const c of chunks) {
      decoder.push(c)
      for (let f = decoder.next(maxPayload); f !== null; f = decoder.next(maxPayload)) frames.push({ type: f.type, payload: Uint8Array.from(f.payload) })
      maxWaiting = Math.max(maxWaiting, decoder.bufferedBytes)
    }
  } catch (error: unknown) {
    return { frames, error, maxWaiting }
  }
  return { frames, error: undefined, maxWaiting }
}

const frameArb = fc.record({
  type: fc.constantFrom(...TYPES),
  payload: fc.uint8Array({ maxLength: 300 }),
})

describe('forward frame decoder (property-based)', () => {
  it('round-trips any sequence of valid frames however the bytes are chunked', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.payload)))
        const { frames: out, error } = decodeAll(chunk(wire, cuts))
        expect(error).toBeUndefined()
        expect(out).toEqual(frames.map((f) => ({ type: f.type, payload: Uint8Array.from(f.payload) })))
      }),
      RUNS,
    )
  })

  it('on arbitrary bytes throws nothing but FrameError and never waits on more than a header plus the largest payload allowed', () => {
    // Pure noise, or headers with a known type and a length near the limit followed by noise.
    const plausible = fc.tuple(fc.constantFrom(...TYPES), fc.integer({ min: 0, max: 1500 }), fc.uint8Array({ maxLength: 2000 })).map(([type, length, rest]) => {
      const header = Buffer.alloc(FRAME_HEADER_BYTES)
      header.writeUInt8(type, 0)
      header.writeUInt32BE(length, 1)
      return Buffer.concat([header, rest])
    })
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 2000 }), plausible),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 0, max: 512 }),
        (bytes, cuts, maxPayload) => {
          const { error, maxWaiting } = decodeAll(chunk(bytes, cuts), maxPayload)
          if (error !== undefined) expect(error).toBeInstanceOf(FrameError)
          expect(maxWaiting).toBeLessThan(FRAME_HEADER_BYTES + maxPayload)
        },
      ),
      RUNS,
    )
  })

  it('decodes the valid prefix of a stream that turns to garbage, then throws FrameError or waits', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 5 }),
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (frames, garbage, cuts) => {
          const valid = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.payload)))
          const { frames: out, error } = decodeAll(chunk(Buffer.concat([valid, garbage]), cuts))
          if (error !== undefined) expect(error).toBeInstanceOf(FrameError)
          expect(out.slice(0, frames.length)).toEqual(frames.map((f) => ({ type: f.type, payload: Uint8Array.from(f.payload) })))
        },
      ),
      RUNS,
    )
  })

  it('rejects a header announcing more than the limit from its five bytes alone', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fc.integer({ min: 1, max: 0xffffffff }), (type, length) => {
        const header = Buffer.alloc(FRAME_HEADER_BYTES)
        header.writeUInt8(type, 0)
        header.writeUInt32BE(length, 1)
        const decoder = new FrameDecoder()
        decoder.push(header)
        const limit = 1024
        if (length > limit) expect(() => decoder.next(limit)).toThrow(FrameError)
        else expect(decoder.next(limit)).toBeNull()
      }),
      RUNS,
    )
  })
})

describe('forward message schemas (property-based)', () => {
  // Mostly heads that are nearly right, so the checks on each field are reached.
  const json = fc.oneof(
    fc.jsonValue(),
    fc.record(
      {
        requestId: fc.oneof(fc.constant('r-1'), fc.string({ maxLength: 300 }), fc.integer()),
        method: fc.oneof(fc.constant('POST'), fc.string()),
        path: fc.oneof(fc.constant('/v1/chat/completions'), fc.string()),
        headers: fc.oneof(fc.constant({}), fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 100 }), fc.jsonValue()),
        hops: fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: -3, max: 100 }), fc.double()),
        bodyLength: fc.oneof(fc.constantFrom(0, 10), fc.integer(), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER + 2)),
        status: fc.oneof(fc.constantFrom(101, 200, 503), fc.integer()),
        servedBy: fc.oneof(fc.constant('b'), fc.string()),
        ok: fc.boolean(),
        message: fc.string(),
      },
      { requiredKeys: [] },
    ),
  )

  it('parses any payload into a valid message or a FrameError, never anything else', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          json.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
          fc.uint8Array({ maxLength: 200 }),
        ),
        (payload) => {
          for (const [type, schema] of [
            [FrameType.RequestHead, requestHeadSchema],
            [FrameType.ResponseHead, responseHeadSchema],
            [FrameType.End, endSchema],
          ] as const) {
            let parsed: unknown
            try {
              parsed = parseFrame({ type, payload }, schema as never)
            } catch (err: unknown) {
              expect(err).toBeInstanceOf(FrameError)
              continue
            }
            if (type === FrameType.ResponseHead) expect((parsed as { status: number }).status).toBeGreaterThanOrEqual(200)
            if (type === FrameType.RequestHead) {
              const head = parsed as { hops: number; bodyLength: number; headers: object }
              expect(head.hops).toBeGreaterThanOrEqual(1)
              expect(Number.isSafeInteger(head.bodyLength) && head.bodyLength >= 0).toBe(true)
              expect(Object.keys(head.headers).length).toBeLessThanOrEqual(MAX_HEAD_HEADERS)
            }
          }
        },
      ),
      RUNS,
    )
  })
})
