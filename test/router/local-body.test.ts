/**
 * A local answer's body keeps its own tail: the tenant meter reads usage there and has its
 * usage-chunk filter applied by the body itself, instead of piping it through a second
 * stream. What reaches the client must be exactly what the two-stream path sent.
 */
import { text } from 'node:stream/consumers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keepsTail } from '../../src/router/types.ts'
import { usageChunkFilter } from '../../src/tenants/stream-usage.ts'
import { tapUsage, type SeenUsage } from '../../src/tenants/usage-tap.ts'
import { scriptedUpstream, type ScriptedUpstream } from './scripted-upstream.ts'

let up: ScriptedUpstream
beforeAll(async () => {
  up = await scriptedUpstream()
})
afterAll(() => up.close())

const delta = (s: string): string => `data: {"choices":[{"index":0,"delta":{"content":"${s}"}}]}\n\n`
const USAGE = 'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n'

describe('a local body read by the tenant meter', () => {
  it('drops the usage chunk the meter asked for, passes every other byte, and reports the usage', async () => {
    up.script = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      // An event split across two writes, then the usage chunk and the end.
      const second = delta('b')
      res.write(delta('a') + second.slice(0, 10))
      setTimeout(() => {
        res.write(second.slice(10))
        res.write(USAGE)
        res.end('data: [DONE]\n\n')
      }, 20)
    }
    const res = await up.serve(true)
    expect(keepsTail(res.body)).toBe(true)
    let seen: SeenUsage | undefined | 'not called' = 'not called'
    const metered = tapUsage(res, (u) => (seen = u), usageChunkFilter())
    // No second stream: the meter worked on the body itself.
    expect(metered.body).toBe(res.body)
    expect(await text(metered.body)).toBe(delta('a') + delta('b') + 'data: [DONE]\n\n')
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual({ promptTokens: 7, completionTokens: 3 })
  })

  it('reads usage from a non-streaming answer, and reports none when the client left first', async () => {
    const answer = JSON.stringify({ choices: [{ message: { content: 'ok' } }], usage: { prompt_tokens: 5, completion_tokens: 2 } })
    up.script = (res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer)
    const res = await up.serve(false)
    let seen: SeenUsage | undefined | 'not called' = 'not called'
    const metered = tapUsage(res, (u) => (seen = u))
    expect(await text(metered.body)).toBe(answer)
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual({ promptTokens: 5, completionTokens: 2 })

    up.script = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(delta('a'))
    }
    const left = await up.serve(true)
    let after: SeenUsage | undefined | 'not called' = 'not called'
    tapUsage(left, (u) => (after = u), usageChunkFilter())
    left.body.destroy()
    await new Promise((resolve) => left.body.once('close', resolve))
    expect(after).toBeUndefined()
  })
})
