/**
 * The tokens an answer really used, read from its tail as it passes by (bytes untouched):
 * OpenAI's `usage` (`prompt_tokens`, `completion_tokens`), the Anthropic and Responses
 * names (`input_tokens`, `output_tokens`), or llama-server's `timings` (`prompt_n`,
 * `predicted_n`) where usage is absent. It runs on the node the client asked, which is
 * where the key was checked, whichever node or backend served the answer.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { TailFields, type TailField } from '../router/tail-fields.ts'
import { keepsTail, TAIL_BYTES, type ChunkFilter, type UpstreamResponse } from '../router/types.ts'

export type { ChunkFilter }

/** Bytes of the end of a body kept for reading its usage. */
export const USAGE_TAIL_BYTES = TAIL_BYTES

export interface SeenUsage {
  promptTokens?: number
  completionTokens?: number
}

const PROMPT: readonly TailField[] = ['prompt_tokens', 'input_tokens']
const COMPLETION: readonly TailField[] = ['completion_tokens', 'output_tokens']
const PROMPT_N: readonly TailField[] = ['prompt_n']
const PREDICTED_N: readonly TailField[] = ['predicted_n']

/** Usage as far as the tail of a body says (fields absent when it does not). */
export function usageFromTail(tail: TailFields): SeenUsage {
  const out: SeenUsage = {}
  const prompt = tail.last(PROMPT) ?? tail.last(PROMPT_N)
  const completion = tail.last(COMPLETION) ?? tail.last(PREDICTED_N)
  if (prompt !== undefined) out.promptTokens = prompt
  if (completion !== undefined) out.completionTokens = completion
  return out
}

class UsageTap extends Transform {
  /** The last chunks, at least USAGE_TAIL_BYTES of them when the body was that long (decoded once, at the end). */
  private chunks: Buffer[] = []
  private held = 0
  private readonly onDone: (usage: SeenUsage | undefined) => void
  private readonly pass: ((chunk: Buffer) => Buffer | undefined) | undefined
  private readonly flushFilter: (() => Buffer | undefined) | undefined
  private done = false

  constructor(onDone: (usage: SeenUsage | undefined) => void, filter?: ChunkFilter) {
    super()
    this.onDone = onDone
    this.pass = filter?.push
    this.flushFilter = filter?.end
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.chunks.push(chunk)
    this.held += chunk.length
    while (this.chunks.length > 1 && this.held - (this.chunks[0]?.length ?? 0) >= USAGE_TAIL_BYTES) this.held -= this.chunks.shift()?.length ?? 0
    cb(null, this.pass === undefined ? chunk : this.pass(chunk))
  }

  override _flush(cb: TransformCallback): void {
    const tail = Buffer.concat(this.chunks)
    this.chunks = []
    this.finish(usageFromTail(new TailFields(tail.subarray(Math.max(0, tail.length - USAGE_TAIL_BYTES)).toString('latin1'))))
    cb(null, this.flushFilter?.())
  }

  /** Called on the end of the body (with what it says) or when it stopped early (undefined). */
  finish(usage: SeenUsage | undefined): void {
    if (this.done) return
    this.done = true
    this.onDone(usage)
  }
}

/**
 * The same response, its body passed through a tap (or, when it keeps its own tail, read
 * at its end) that calls `onDone` once: with the usage found at the end, or undefined when
 * the body failed or the client left first.
 */
export function tapUsage(res: UpstreamResponse, onDone: (usage: SeenUsage | undefined) => void, filter?: ChunkFilter): UpstreamResponse {
  // A body that keeps its own tail (the local target's) is read at its end: no second stream per request.
  if (keepsTail(res.body) && (filter === undefined || res.body.filterWith(filter))) {
    res.body.whenEnded((tail) => onDone(tail === undefined ? undefined : usageFromTail(tail)))
    return res
  }
  const tap = new UsageTap(onDone, filter)
  res.body.once('error', (err: Error) => tap.destroy(err))
  tap.once('close', () => {
    tap.finish(undefined)
    if (!res.body.destroyed) res.body.destroy()
  })
  // Errors pass through as they came (the same error destroys the tap; an SSE error event is bytes like any), so a body that ended the right way on failure still does.
  return { ...res, body: (res.body as Readable).pipe(tap), guarded: res.guarded === true }
}
