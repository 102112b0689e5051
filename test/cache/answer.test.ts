import { describe, expect, it } from 'vitest'
import { checkAnswer } from '../../src/cache/index.ts'

const b = (s: string): Buffer => Buffer.from(s)
const data = (...events: unknown[]): string => events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join('')
const named = (...events: [string, unknown][]): string => events.map(([n, e]) => `event: ${n}\ndata: ${JSON.stringify(e)}\n\n`).join('')

describe('whole answers', () => {
  it('takes a JSON answer with its usage, and refuses an error body or a cut one', () => {
    expect(checkAnswer('chat', b('{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}'), false)).toEqual({
      complete: true,
      usage: { inputTokens: 3, outputTokens: 5 },
    })
    expect(checkAnswer('messages', b('{"content":[],"usage":{"input_tokens":2,"output_tokens":4}}'), false).usage).toEqual({ inputTokens: 2, outputTokens: 4 })
    expect(checkAnswer('chat', b('{"error":{"message":"x"}}'), false).complete).toBe(false)
    expect(checkAnswer('chat', b('{"choices":[{"mess'), false).complete).toBe(false)
  })

  it('takes a chat stream that reached [DONE], with the usage of its last chunks or llama-server timings', () => {
    const done = checkAnswer('chat', b(data({ choices: [] }, { choices: [], timings: { prompt_n: 4, predicted_n: 7 } }, '[DONE]')), true)
    expect(done).toEqual({ complete: true, usage: { inputTokens: 4, outputTokens: 7 } })
    expect(checkAnswer('chat', b(data({ choices: [] })), true).complete).toBe(false)
    expect(checkAnswer('chat', b(data({ choices: [] }, { error: { message: 'cut' } }, '[DONE]')), true).complete).toBe(false)
  })

  it('takes Messages and Responses streams that reached their last event, and no error event', () => {
    const msg = named(
      ['message_start', { type: 'message_start', message: { usage: { input_tokens: 5, output_tokens: 1 } } }],
      ['message_delta', { type: 'message_delta', usage: { output_tokens: 9 } }],
      ['message_stop', { type: 'message_stop' }],
    )
    expect(checkAnswer('messages', b(msg), true)).toEqual({ complete: true, usage: { inputTokens: 5, outputTokens: 9 } })
    expect(checkAnswer('messages', b(msg.slice(0, msg.indexOf('event: message_stop'))), true).complete).toBe(false)
    expect(checkAnswer('messages', b(msg + named(['error', { type: 'error', error: {} }])), true).complete).toBe(false)
    const resp = named(
      ['response.created', { type: 'response.created' }],
      ['response.completed', { type: 'response.completed', response: { usage: { input_tokens: 1, output_tokens: 2 } } }],
    )
    expect(checkAnswer('responses', b(resp), true)).toEqual({ complete: true, usage: { inputTokens: 1, outputTokens: 2 } })
    expect(checkAnswer('responses', b(named(['response.failed', { type: 'response.failed' }])), true).complete).toBe(false)
  })
})
