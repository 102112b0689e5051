/**
 * An incremental Server-Sent Events decoder (the WHATWG framing: lines end in LF, CRLF or
 * CR; `event:` and `data:` fields; `:` comments; a blank line ends an event) that takes
 * bytes split anywhere, even inside a UTF-8 character or between CR and LF. Lines are cut
 * on bytes (CR and LF never occur inside a UTF-8 sequence) and decoded whole. One event
 * may hold at most MAX_SSE_EVENT_BYTES; a longer one is an `upstream_error`, not memory.
 */
import { HerdError } from '../errors/index.ts'

/** The most bytes one upstream event (its lines up to the blank one) may take. */
export const MAX_SSE_EVENT_BYTES = 1024 * 1024

export interface SseEvent {
  /** The `event:` field; empty when the event had none (a plain `message`). */
  event: string
  /** The `data:` lines joined by LF. */
  data: string
}

const LF = 0x0a
const CR = 0x0d
const EMPTY = Buffer.alloc(0)

export class SseDecoder {
  private rest: Buffer = EMPTY
  /** The last byte seen was a CR at the end of a chunk: an LF opening the next one belongs to it. */
  private afterCr = false
  private name = ''
  private data: string[] = []
  private eventBytes = 0
  private readonly maxEventBytes: number

  constructor(maxEventBytes = MAX_SSE_EVENT_BYTES) {
    this.maxEventBytes = maxEventBytes
  }

  /** The events that `chunk` completes, in order. */
  push(chunk: Uint8Array | string): SseEvent[] {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const buf = this.rest.length === 0 ? bytes : Buffer.concat([this.rest, bytes])
    const out: SseEvent[] = []
    let start = 0
    if (this.afterCr && buf.length > 0) {
      if (buf[0] === LF) start = 1
      this.afterCr = false
    }
    let cr = buf.indexOf(CR, start)
    let lf = buf.indexOf(LF, start)
    while (cr !== -1 || lf !== -1) {
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf)
      this.line(buf, start, end, out)
      start = end + 1
      if (end === cr) {
        if (start === buf.length) this.afterCr = true
        else if (buf[start] === LF) start++
      }
      if (cr !== -1 && cr < start) cr = buf.indexOf(CR, start)
      if (lf !== -1 && lf < start) lf = buf.indexOf(LF, start)
    }
    this.rest = start === buf.length ? EMPTY : Buffer.from(buf.subarray(start))
    if (this.eventBytes + this.rest.length > this.maxEventBytes) throw tooLarge(this.maxEventBytes)
    return out
  }

  /** The upstream ended: a last line without its newline, and an event without its blank line, still count. */
  end(): SseEvent[] {
    const out: SseEvent[] = []
    if (this.rest.length > 0) this.line(this.rest, 0, this.rest.length, out)
    this.rest = EMPTY
    this.dispatch(out)
    return out
  }

  private line(buf: Buffer, start: number, end: number, out: SseEvent[]): void {
    if (start === end) {
      this.dispatch(out)
      return
    }
    this.eventBytes += end - start + 1
    if (this.eventBytes > this.maxEventBytes) throw tooLarge(this.maxEventBytes)
    if (buf[start] === 0x3a) return // a comment (keep-alive)
    const line = buf.toString('utf8', start, end)
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? '' : line.slice(line.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1)
    if (field === 'data') this.data.push(value)
    else if (field === 'event') this.name = value
    // id and retry mean nothing to a converter; other fields are ignored, as the standard says.
  }

  private dispatch(out: SseEvent[]): void {
    if (this.data.length > 0) out.push({ event: this.name, data: this.data.length === 1 ? (this.data[0] ?? '') : this.data.join('\n') })
    this.name = ''
    this.data = []
    this.eventBytes = 0
  }
}

function tooLarge(max: number): HerdError {
  return new HerdError('upstream_error', `backend sent a stream event larger than ${max} bytes`)
}

/** One unnamed SSE event (OpenAI's framing). */
export const dataEvent = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`

/** One named SSE event (Anthropic's framing: the name is also the data's `type`). */
export const namedEvent = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
