/**
 * The serving side of `/herd/forward/1.0.0`: read a request off the stream, hand it to the
 * daemon's handler (`onForward`), relay the response head and body back as frames, end
 * with an end frame, then wait on the same stream for the next request.
 *
 * The handler's signal aborts when the stream is reset or closes mid-request (the client
 * went away), so the local llama-server request stops too. While nothing flows (model
 * loading, a long prompt) keep-alive frames tell the client the node is still alive.
 */
import type { Connection, Stream } from '@libp2p/interface'
import type { Logger } from 'pino'
import { isHerdError } from '../errors/index.ts'
import type { UpstreamResponse } from '../router/types.ts'
import { parseFrame, requestHeadSchema, type EndMessage, type RequestHead, type ResponseHead } from './forward-messages.ts'
import { FrameError, FrameType, MAX_FRAME_PAYLOAD, encodeFrame, encodeJsonFrame } from './frame.ts'
import { FrameReader, sendFrame } from './frame-reader.ts'
import type { ForwardRequest } from './types.ts'

export type ForwardHandler = (req: ForwardRequest, options: { signal: AbortSignal }) => Promise<UpstreamResponse>

export interface ForwardServerComponents {
  logger: Logger
  onForward: ForwardHandler
}

export interface ForwardServerInit {
  /** How long a request body may stall between frames. */
  peerTimeoutMs: number
  /** Send a keep-alive after this long without any frame. @default peerTimeoutMs / 3 */
  keepAliveMs?: number
}

export class ForwardServer {
  private readonly components: ForwardServerComponents
  private readonly peerTimeoutMs: number
  private readonly keepAliveMs: number
  private readonly streams = new Set<Stream>()
  private controller = new AbortController()

  constructor(components: ForwardServerComponents, init: ForwardServerInit) {
    this.components = components
    this.peerTimeoutMs = init.peerTimeoutMs
    this.keepAliveMs = init.keepAliveMs ?? Math.max(10, Math.floor(init.peerTimeoutMs / 3))
  }

  start(): void {
    if (this.controller.signal.aborted) this.controller = new AbortController()
  }

  /** Abort every request being served and reset their streams. */
  stop(): void {
    this.controller.abort(new Error('mesh stopping'))
    for (const stream of this.streams) stream.abort(new Error('mesh stopping'))
    this.streams.clear()
  }

  readonly handle = async (stream: Stream, connection: Connection): Promise<void> => {
    const peer = connection.remotePeer.toString()
    const stop = this.controller.signal
    const reader = new FrameReader(stream)
    this.streams.add(stream)
    try {
      while (!stop.aborted) {
        // An idle pooled stream waits here for as long as the client keeps it.
        const first = await reader.next({ signal: stop })
        if (first === null) {
          await stream.close({ signal: AbortSignal.timeout(this.peerTimeoutMs) })
          return
        }
        if (first.type !== FrameType.RequestHead) throw new FrameError(`expected a request head, got frame type ${first.type}`)
        const head = parseFrame(first, requestHeadSchema)
        const body = await this.readBody(reader, head, stop)
        const reusable = await this.serve(stream, peer, head, body)
        if (!reusable) return
      }
    } catch (err: unknown) {
      if (!stop.aborted) this.components.logger.debug({ peer, err: String(err) }, 'forward stream failed')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      reader.detach()
      this.streams.delete(stream)
    }
  }

  private async readBody(reader: FrameReader, head: RequestHead, signal: AbortSignal): Promise<Buffer> {
    const chunks: Uint8Array[] = []
    let received = 0
    while (received < head.bodyLength) {
      const frame = await reader.next({ signal, timeoutMs: this.peerTimeoutMs })
      if (frame === null) throw new FrameError(`stream ended after ${received} of ${head.bodyLength} body bytes`)
      if (frame.type !== FrameType.Body) throw new FrameError(`expected request body, got frame type ${frame.type}`)
      received += frame.payload.byteLength
      if (received > head.bodyLength) throw new FrameError(`request body longer than the announced ${head.bodyLength} bytes`)
      chunks.push(frame.payload)
    }
    return Buffer.concat(chunks)
  }

  /** Serves one request; resolves to whether the stream can carry another. */
  private async serve(stream: Stream, peer: string, head: RequestHead, body: Buffer): Promise<boolean> {
    const log = this.components.logger.child({ request_id: head.requestId, peer })
    const ac = new AbortController()
    let res: UpstreamResponse | undefined
    const onGone = (): void => {
      ac.abort(new Error(`peer ${peer} went away mid-request`))
      res?.body.destroy()
    }
    const stop = this.controller.signal
    stream.addEventListener('close', onGone)
    stop.addEventListener('abort', onGone)
    let lastSent = Date.now()
    const send = async (frame: Uint8Array): Promise<void> => {
      await sendFrame(stream, frame, { signal: ac.signal })
      lastSent = Date.now()
    }
    const keepAlive = setInterval(() => {
      if (Date.now() - lastSent < this.keepAliveMs || stream.writeStatus !== 'writable' || stream.writableNeedsDrain) return
      stream.send(encodeFrame(FrameType.KeepAlive))
      lastSent = Date.now()
    }, this.keepAliveMs)
    try {
      const req: ForwardRequest = { requestId: head.requestId, method: head.method, path: head.path, headers: head.headers, hops: head.hops, body }
      try {
        res = await this.components.onForward(req, { signal: ac.signal })
      } catch (err: unknown) {
        if (ac.signal.aborted) return false
        log.debug({ err: String(err) }, 'forwarded request failed before a response')
        await send(encodeJsonFrame(FrameType.End, endError(err)))
        return true
      }
      if (ac.signal.aborted) return false
      const responseHead: ResponseHead = { status: res.status, headers: res.headers, servedBy: res.servedBy }
      await send(encodeJsonFrame(FrameType.ResponseHead, responseHead))
      try {
        // The async iterator pulls one chunk at a time: upstream is read no faster than the peer takes it.
        for await (const item of res.body as AsyncIterable<Uint8Array | string>) {
          const chunk = typeof item === 'string' ? Buffer.from(item, 'utf8') : item
          for (let offset = 0; offset < chunk.byteLength; offset += MAX_FRAME_PAYLOAD) {
            await send(encodeFrame(FrameType.Body, chunk.subarray(offset, offset + MAX_FRAME_PAYLOAD)))
          }
        }
      } catch (err: unknown) {
        if (ac.signal.aborted || stream.writeStatus !== 'writable') return false
        log.debug({ err: String(err) }, 'response body failed mid-stream')
        await send(encodeJsonFrame(FrameType.End, endError(err)))
        return true
      }
      await send(encodeJsonFrame(FrameType.End, { ok: true } satisfies EndMessage))
      return true
    } catch (err: unknown) {
      // Writing to the peer failed: the stream is gone.
      if (!ac.signal.aborted) log.debug({ err: String(err) }, 'could not write the response to the peer')
      return false
    } finally {
      clearInterval(keepAlive)
      stream.removeEventListener('close', onGone)
      stop.removeEventListener('abort', onGone)
      if (res !== undefined && !res.body.readableEnded) res.body.destroy()
    }
  }
}

function endError(err: unknown): EndMessage {
  const message = err instanceof Error ? err.message : String(err)
  return isHerdError(err) ? { ok: false, message, code: err.code } : { ok: false, message }
}
