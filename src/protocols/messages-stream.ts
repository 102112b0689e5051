/**
 * An Anthropic Messages event stream that starts the way the protocol says: with
 * `message_start`. llama-server emits `message_start` together with its first decoded
 * token (`n_decoded == 1`, tools/server/server-task.cpp); when that token is an incomplete
 * UTF-8 sequence it holds the text back and the stream opens with `content_block_start`
 * instead, about one request in four with the tiny test model. `@anthropic-ai/sdk`
 * (and so Claude Code) then fails with "Unexpected event order". Only the first event is
 * looked at: when it is not `message_start` (or an `error`), a synthesized `message_start`
 * goes before it; everything else passes byte for byte.
 */
import { randomUUID } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import type { UpstreamResponse } from '../router/types.ts'
import { through } from './responses-stream.ts'

/** A first event longer than this is passed on as it is rather than buffered further. */
export const MAX_FIRST_EVENT_BYTES = 64 * 1024

export interface MessagesStreamInit {
  /** `message.model` of a synthesized `message_start` (the model the client asked for). */
  model: string
  /** `message.id` of a synthesized `message_start`. Default: `msg_` and a random id. */
  id?: string
}

/** A Transform that makes sure a Messages stream opens with `message_start`. */
export function completeMessagesStream(init: MessagesStreamInit): Transform {
  return new MessagesStreamStart(init)
}

/** The same response with its event stream opened properly (other responses unchanged). */
export function completeMessages(res: UpstreamResponse, init: MessagesStreamInit): UpstreamResponse {
  if (!(res.headers['content-type'] ?? '').includes('text/event-stream')) return res
  return { ...res, body: through(res.body, completeMessagesStream(init)), guarded: false }
}

class MessagesStreamStart extends Transform {
  private readonly init: MessagesStreamInit
  private head: Buffer | undefined = Buffer.alloc(0)

  constructor(init: MessagesStreamInit) {
    super()
    this.init = init
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.head === undefined) return done(null, chunk)
    this.head = Buffer.concat([this.head, chunk])
    const text = this.head.toString('latin1')
    const end = firstBoundary(text)
    if (end < 0 && this.head.length < MAX_FIRST_EVENT_BYTES) return done()
    this.release(end < 0 ? undefined : text.slice(0, end))
    done()
  }

  override _flush(done: TransformCallback): void {
    if (this.head !== undefined && this.head.length > 0) this.release(undefined)
    done()
  }

  /** Sends what was held, after a synthesized `message_start` when the first event needs one. */
  private release(firstEvent: string | undefined): void {
    const held = this.head ?? Buffer.alloc(0)
    this.head = undefined
    const name = firstEvent === undefined ? undefined : eventName(firstEvent)
    if (name !== undefined && name !== 'message_start' && name !== 'error') this.push(this.messageStart())
    this.push(held)
  }

  private messageStart(): string {
    const message = {
      id: this.init.id ?? `msg_${randomUUID().replaceAll('-', '')}`,
      type: 'message',
      role: 'assistant',
      content: [],
      model: this.init.model,
      stop_reason: null,
      stop_sequence: null,
      // The prompt's size is not known here; the closing message_delta carries output_tokens.
      usage: { input_tokens: 0, output_tokens: 0 },
    }
    return `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message })}\n\n`
  }
}

/** Where the first event ends (LF or CRLF framing), or -1. */
function firstBoundary(text: string): number {
  const lf = text.indexOf('\n\n')
  const crlf = text.indexOf('\r\n\r\n')
  if (lf < 0) return crlf
  if (crlf < 0) return lf
  return Math.min(lf, crlf)
}

/** The `event:` name of one SSE event (its `data.type` when it has no event line). */
function eventName(event: string): string | undefined {
  for (const line of event.split(/\r?\n/)) {
    if (line.startsWith('event:')) return line.slice(6).trim()
  }
  const data = event.split(/\r?\n/).find((l) => l.startsWith('data:'))
  if (data === undefined) return undefined
  try {
    const type = (JSON.parse(data.slice(5)) as { type?: unknown }).type
    return typeof type === 'string' ? type : undefined
  } catch {
    return undefined
  }
}
