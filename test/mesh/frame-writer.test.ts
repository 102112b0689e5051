import type { Stream } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { FrameDecoder, FrameType, encodeFrame, encodeJsonFrame } from '../../src/mesh/frame.ts'
import { FrameWriter } from '../../src/mesh/frame-writer.ts'

/** The parts of a libp2p Stream a FrameWriter uses: sends are recorded, and the test says when it needs draining. */
class FakeStream extends EventTarget {
  sends: Uint8Array[] = []
  status = 'open'
  writeStatus = 'writable'
  writableNeedsDrain = false
  send(data: Uint8Array): boolean {
    this.sends.push(data)
    return !this.writableNeedsDrain
  }
  drain(): void {
    this.writableNeedsDrain = false
    this.dispatchEvent(new Event('drain'))
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r))
const frames = (sends: Uint8Array[]): number[] => {
  const d = new FrameDecoder()
  d.push(sends)
  const types: number[] = []
  for (let f = d.next(); f !== null; f = d.next()) types.push(f.type)
  return types
}

describe('FrameWriter', () => {
  it('sends the frames written in one turn of the event loop as one write, in order', async () => {
    const stream = new FakeStream()
    const writer = new FrameWriter(stream as unknown as Stream)
    await writer.write(encodeJsonFrame(FrameType.ResponseHead, { status: 200, headers: {} }))
    await writer.write(encodeFrame(FrameType.Body, Buffer.from('hello')))
    expect(stream.sends).toHaveLength(0)
    await turn()
    expect(stream.sends).toHaveLength(1)
    await writer.write(encodeFrame(FrameType.Body, Buffer.from('again')))
    await writer.write(encodeJsonFrame(FrameType.End, { ok: true }))
    await writer.flushAndDrain()
    expect(stream.sends).toHaveLength(2)
    expect(frames(stream.sends)).toEqual([FrameType.ResponseHead, FrameType.Body, FrameType.Body, FrameType.End])
  })

  it('sends at once past its batch size, so a large body is not held back', async () => {
    const stream = new FakeStream()
    const writer = new FrameWriter(stream as unknown as Stream, { maxBatchBytes: 1024 })
    await writer.write(encodeFrame(FrameType.Body, Buffer.alloc(600)))
    expect(stream.sends).toHaveLength(0)
    await writer.write(encodeFrame(FrameType.Body, Buffer.alloc(600)))
    expect(stream.sends).toHaveLength(1)
  })

  it('waits for the stream to drain once its buffer is full (backpressure)', async () => {
    const stream = new FakeStream()
    const writer = new FrameWriter(stream as unknown as Stream, { maxBatchBytes: 16 })
    stream.writableNeedsDrain = true
    let done = false
    const pending = writer.write(encodeFrame(FrameType.Body, Buffer.alloc(32))).then(() => (done = true))
    await turn()
    expect(done).toBe(false)
    stream.drain()
    await pending
    expect(done).toBe(true)
  })

  it('drops what is queued when discarded, and refuses a stream that can no longer be written', async () => {
    const stream = new FakeStream()
    const writer = new FrameWriter(stream as unknown as Stream)
    await writer.write(encodeFrame(FrameType.Body, Buffer.from('x')))
    writer.discard()
    await turn()
    expect(stream.sends).toHaveLength(0)
    stream.writeStatus = 'closed'
    await expect(writer.write(encodeFrame(FrameType.Body, Buffer.from('y')))).rejects.toThrow(/cannot write/)
  })
})
