/**
 * Fill in what llama-server's `/v1/responses` event stream leaves out of OpenAI's schema,
 * so strict clients accept it: the AI SDK's default OpenAI provider validates every event
 * and drops (or fails on) `response.created` without `created_at`/`model` and
 * `response.output_item.*` without `output_index` (llama.cpp issue #20607). Only missing
 * fields are added, never changed: an event that is already complete (a fixed llama-server,
 * anything unparseable) passes through byte for byte, and so does everything else about
 * the stream (event names, order, chunking up to event boundaries, backpressure).
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import type { UpstreamResponse } from '../router/types.ts'

/** One event longer than this is passed on as is rather than buffered further. */
export const MAX_RESPONSES_EVENT_BYTES = 4 * 1024 * 1024

const BOUNDARY = Buffer.from('\n\n')

export interface ResponsesStreamInit {
  /** What `response.model` says when llama-server does not (the model the client asked for). */
  model: string
  /** Seconds since the epoch for a missing `created_at` (default: now). */
  now?: () => number
}

/** A Transform that completes each SSE event of a Responses stream. */
export function completeResponsesStream(init: ResponsesStreamInit): Transform {
  return new ResponsesStreamCompleter(init)
}

/**
 * The same response with its event stream completed (other responses unchanged). A failure
 * of the source reaches the new body as an error, for the relay to end the stream with an
 * error event; the client going away stops the source.
 */
export function completeResponses(res: UpstreamResponse, init: ResponsesStreamInit): UpstreamResponse {
  if (!(res.headers['content-type'] ?? '').includes('text/event-stream')) return res
  return { ...res, body: through(res.body, completeResponsesStream(init)), guarded: false }
}

/**
 * `source` piped into `transform`: a failure of the source reaches the transform as an error
 * (for the relay to end the stream with an error event); the transform going away (the
 * client left) stops the source.
 */
export function through(source: Readable, transform: Transform): Transform {
  source.once('error', (err: Error) => transform.destroy(err))
  transform.once('close', () => {
    if (!source.destroyed) source.destroy()
  })
  return source.pipe(transform)
}

class ResponsesStreamCompleter extends Transform {
  private readonly model: string
  private readonly now: () => number
  private pending: Buffer = Buffer.alloc(0)
  /** Set when the stream is not framed as expected (CRLF): from then on bytes pass as they are. */
  private passthrough = false
  private sequence = 0
  private readonly outputIndex = new Map<string, number>()

  constructor(init: ResponsesStreamInit) {
    super()
    this.model = init.model
    this.now = init.now ?? (() => Math.floor(Date.now() / 1000))
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    // A raw CR never appears inside JSON, so one means CRLF framing, which this does not parse.
    if (this.passthrough || chunk.includes(0x0d)) {
      this.passthrough = true
      done(null, Buffer.concat([this.pending, chunk]))
      this.pending = Buffer.alloc(0)
      return
    }
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    const out: Buffer[] = []
    let start = 0
    for (let end = this.pending.indexOf(BOUNDARY, start); end !== -1; end = this.pending.indexOf(BOUNDARY, start)) {
      out.push(this.complete(this.pending.subarray(start, end + BOUNDARY.length)))
      start = end + BOUNDARY.length
    }
    this.pending = this.pending.subarray(start)
    if (this.pending.length > MAX_RESPONSES_EVENT_BYTES) {
      out.push(this.pending)
      this.pending = Buffer.alloc(0)
    }
    // Nothing whole yet: wait for more rather than push an empty chunk.
    done(null, out.length === 0 ? undefined : out.length === 1 ? out[0] : Buffer.concat(out))
  }

  override _flush(done: TransformCallback): void {
    done(null, this.pending.length > 0 ? this.pending : undefined)
  }

  /** One whole event (ending in a blank line), completed, or the same bytes. */
  private complete(event: Buffer): Buffer {
    const text = event.toString('utf8')
    const lines = text.slice(0, -2).split('\n')
    const at = lines.findIndex((l) => l.startsWith('data: '))
    const line = lines[at]
    if (line === undefined || lines.filter((l) => l.startsWith('data:')).length !== 1) return event
    let data: unknown
    try {
      data = JSON.parse(line.slice(6))
    } catch {
      return event
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return event
    if (!this.fill(data as Record<string, unknown>)) return event
    lines[at] = `data: ${JSON.stringify(data)}`
    return Buffer.from(`${lines.join('\n')}\n\n`)
  }

  /** Adds the missing fields to one event's data; says whether it added any. */
  private fill(data: Record<string, unknown>): boolean {
    const type = typeof data['type'] === 'string' ? data['type'] : ''
    // Not a Responses event (herd's own error event, say): leave it alone.
    if (!type.startsWith('response.')) return false
    let changed = false
    const set = (obj: Record<string, unknown>, key: string, value: unknown): void => {
      if (obj[key] !== undefined) return
      obj[key] = value
      changed = true
    }
    set(data, 'sequence_number', this.sequence++)
    const response = asObject(data['response'])
    if (response && (type === 'response.created' || type === 'response.in_progress')) {
      set(response, 'created_at', this.now())
      set(response, 'model', this.model)
    }
    const item = asObject(data['item'])
    const itemId = typeof item?.['id'] === 'string' ? item['id'] : typeof data['item_id'] === 'string' ? data['item_id'] : undefined
    if (itemId !== undefined && (item !== undefined || this.outputIndex.has(itemId))) set(data, 'output_index', this.indexOf(itemId))
    // llama-server writes one content part per output item.
    if (itemId !== undefined && /^response\.(content_part|output_text|reasoning_text)\./.test(type)) set(data, 'content_index', 0)
    return changed
  }

  private indexOf(itemId: string): number {
    let index = this.outputIndex.get(itemId)
    if (index === undefined) {
      index = this.outputIndex.size
      this.outputIndex.set(itemId, index)
    }
    return index
  }
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}
