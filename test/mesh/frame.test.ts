import { describe, expect, it } from 'vitest'
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameError,
  FrameType,
  MAX_FRAME_PAYLOAD,
  encodeFrame,
  encodeJsonFrame,
  parseJsonPayload,
} from '../../src/mesh/frame.ts'
import { endSchema, parseFrame, requestHeadSchema } from '../../src/mesh/forward-messages.ts'

const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8')
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8')

describe('frame codec', () => {
  it('encodes a JSON frame by its UTF-8 length, and refuses one over the frame limit', () => {
    const value = { message: 'déjà vu — 日本語 🐑' }
    const frame = encodeJsonFrame(FrameType.End, value)
    const json = Buffer.from(JSON.stringify(value), 'utf8')
    expect(Buffer.from(frame).readUInt32BE(1)).toBe(json.byteLength)
    expect(frame.byteLength).toBe(FRAME_HEADER_BYTES + json.byteLength)
    const decoder = new FrameDecoder()
    decoder.push(frame)
    expect(parseJsonPayload(decoder.next()!)).toEqual(value)
    expect(() => encodeJsonFrame(FrameType.Body, 'x'.repeat(MAX_FRAME_PAYLOAD))).toThrow(FrameError)
  })

  it('round-trips frames of every type, empty payloads included', () => {
    const decoder = new FrameDecoder()
    decoder.push(encodeFrame(FrameType.Body, bytes('hello')))
    decoder.push(encodeFrame(FrameType.KeepAlive))
    decoder.push(encodeJsonFrame(FrameType.End, { ok: true }))
    const a = decoder.next()!
    expect(a.type).toBe(FrameType.Body)
    expect(text(a.payload)).toBe('hello')
    expect(decoder.next()).toEqual({ type: FrameType.KeepAlive, payload: new Uint8Array(0) })
    const end = decoder.next()!
    expect(parseJsonPayload(end)).toEqual({ ok: true })
    expect(decoder.next()).toBeNull()
    expect(decoder.bufferedBytes).toBe(0)
  })

  it('decodes frames that arrive split byte by byte and glued together', () => {
    const wire = Buffer.concat([
      encodeFrame(FrameType.Body, bytes('abc')),
      encodeFrame(FrameType.Body, bytes('defgh')),
      encodeFrame(FrameType.End, bytes('{"ok":true}')),
    ])
    const decoder = new FrameDecoder()
    const out: string[] = []
    for (const byte of wire) {
      decoder.push(Uint8Array.of(byte))
      for (let f = decoder.next(); f !== null; f = decoder.next()) out.push(`${f.type}:${text(f.payload)}`)
    }
    expect(out).toEqual(['2:abc', '2:defgh', '4:{"ok":true}'])
  })

  it('accepts a list of chunks as one push (libp2p hands over Uint8ArrayLists)', () => {
    const frame = encodeFrame(FrameType.Body, bytes('split-payload'))
    const decoder = new FrameDecoder()
    decoder.push([frame.subarray(0, 3), frame.subarray(3, 9), frame.subarray(9)])
    expect(text(decoder.next()!.payload)).toBe('split-payload')
  })

  it('waits for the whole payload before returning a frame', () => {
    const frame = encodeFrame(FrameType.Body, new Uint8Array(1000).fill(7))
    const decoder = new FrameDecoder()
    decoder.push(frame.subarray(0, 500))
    expect(decoder.next()).toBeNull()
    decoder.push(frame.subarray(500))
    expect(decoder.next()!.payload.byteLength).toBe(1000)
  })

  it('rejects an unknown frame type from the header alone', () => {
    const decoder = new FrameDecoder()
    decoder.push(Uint8Array.of(99, 0, 0, 0, 1))
    expect(() => decoder.next()).toThrow(FrameError)
    expect(() => decoder.next()).toThrow(/unknown frame type 99/)
  })

  it('rejects a declared length above the maximum before buffering it', () => {
    const header = Buffer.alloc(FRAME_HEADER_BYTES)
    header.writeUInt8(FrameType.Body, 0)
    header.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 1)
    const decoder = new FrameDecoder()
    decoder.push(header)
    expect(() => decoder.next()).toThrow(/exceeds/)
  })

  it('refuses to encode a payload above the maximum', () => {
    expect(() => encodeFrame(FrameType.Body, new Uint8Array(MAX_FRAME_PAYLOAD + 1))).toThrow(FrameError)
  })

  it('reports a head that is not JSON, or JSON of the wrong shape, as a frame error', () => {
    expect(() => parseJsonPayload({ type: FrameType.RequestHead, payload: bytes('{nope') })).toThrow(FrameError)
    const frame = { type: FrameType.RequestHead, payload: bytes(JSON.stringify({ method: 'POST', path: 'no-slash' })) }
    expect(() => parseFrame(frame, requestHeadSchema)).toThrow(/path/)
  })

  it('parses both shapes of the end frame', () => {
    expect(parseFrame({ type: FrameType.End, payload: bytes('{"ok":true}') }, endSchema)).toEqual({ ok: true })
    expect(parseFrame({ type: FrameType.End, payload: bytes('{"ok":false,"message":"boom","code":"queue_full"}') }, endSchema)).toEqual({
      ok: false,
      message: 'boom',
      code: 'queue_full',
    })
    expect(() => parseFrame({ type: FrameType.End, payload: bytes('{"ok":false}') }, endSchema)).toThrow(FrameError)
  })
})
