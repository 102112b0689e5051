/**
 * The tokens an answer really used, read from its tail as it passes by (bytes untouched):
 * OpenAI's `usage` (`prompt_tokens`, `completion_tokens`), the Anthropic and Responses
 * names (`input_tokens`, `output_tokens`), or llama-server's `timings` (`prompt_n`,
 * `predicted_n`) where usage is absent. It runs on the node the client asked, which is
 * where the key was checked, whichever node or backend served the answer.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import type { UpstreamResponse } from '../router/types.ts'

/** Bytes of the end of a body kept for reading its usage. */
export const USAGE_TAIL_BYTES = 8192

export interface SeenUsage {
  promptTokens?: number
  completionTokens?: number
}

/** The last value of any of `fields` in `text`. */
function last(text: string, fields: readonly string[]): number | undefined {
  let best: { at: number; value: number } | undefined
  for (const f of fields) {
    const re = new RegExp(`"${f}"\\s*:\\s*(\\d+)`, 'g')
    for (const m of text.matchAll(re)) if (best === undefined || m.index > best.at) best = { at: m.index, value: Number(m[1]) }
  }
  return best?.value
}

/** Usage as far as the tail of a body says (fields absent when it does not). */
export function usageFromTail(tail: string): SeenUsage {
  const out: SeenUsage = {}
  const prompt = last(tail, ['prompt_tokens', 'input_tokens']) ?? last(tail, ['prompt_n'])
  const completion = last(tail, ['completion_tokens', 'output_tokens']) ?? last(tail, ['predicted_n'])
  if (prompt !== undefined) out.promptTokens = prompt
  if (completion !== undefined) out.completionTokens = completion
  return out
}

class UsageTap extends Transform {
  private tail = ''
  private readonly onDone: (usage: SeenUsage | undefined) => void
  private done = false

  constructor(onDone: (usage: SeenUsage | undefined) => void) {
    super()
    this.onDone = onDone
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.tail = (this.tail + chunk.toString('latin1')).slice(-USAGE_TAIL_BYTES)
    cb(null, chunk)
  }

  override _flush(cb: TransformCallback): void {
    this.finish(usageFromTail(this.tail))
    cb()
  }

  /** Called on the end of the body (with what it says) or when it stopped early (undefined). */
  finish(usage: SeenUsage | undefined): void {
    if (this.done) return
    this.done = true
    this.onDone(usage)
  }
}

/**
 * The same response, its body passed through a tap that calls `onDone` once: with the
 * usage found at the end, or undefined when the body failed or the client left first.
 */
export function tapUsage(res: UpstreamResponse, onDone: (usage: SeenUsage | undefined) => void): UpstreamResponse {
  const tap = new UsageTap(onDone)
  res.body.once('error', (err: Error) => tap.destroy(err))
  tap.once('close', () => {
    tap.finish(undefined)
    if (!res.body.destroyed) res.body.destroy()
  })
  return { ...res, body: (res.body as Readable).pipe(tap), guarded: false }
}
