/** Small helpers shared by the protocol conversion tests. */
import { expect } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'

/** The HerdError `fn` throws (fails the test when it returns or throws something else). */
export function thrown(fn: () => unknown): HerdError {
  try {
    fn()
  } catch (err: unknown) {
    expect(err).toBeInstanceOf(HerdError)
    return err as HerdError
  }
  throw new Error('expected a HerdError, nothing was thrown')
}

export interface ParsedEvent {
  event: string
  data: unknown
}

/** SSE text as its events (`[DONE]` kept as a string). */
export function parseSse(text: string): ParsedEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => {
      let event = ''
      let data = ''
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7)
        else if (line.startsWith('data: ')) data = line.slice(6)
      }
      return { event, data: data === '[DONE]' ? data : (JSON.parse(data) as unknown) }
    })
}

/** Anthropic-style SSE text for these events (`event:` named after each data's type). */
export const anthropicSse = (events: readonly { type: string }[]): string => events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('')

/** OpenAI-style SSE text for these chunks, ending with `data: [DONE]`. */
export const openaiSse = (chunks: readonly unknown[], done = true): string =>
  chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('') + (done ? 'data: [DONE]\n\n' : '')
