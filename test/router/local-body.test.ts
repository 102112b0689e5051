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
import { waitFor } from '../helpers/poll.ts'
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

describe('a local body as the upstream request it reads', () => {
  it('keeps backpressure: a client that does not read stalls the upstream, and reading again gets every byte', async () => {
    const CHUNK = Buffer.alloc(256 * 1024, 0x61)
    const TOTAL_CHUNKS = 128 // 32 MiB: far more than socket buffers and stream high-water marks hold
    let written = 0
    let lastProgress = Date.now()
    up.script = (res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const more = (): void => {
        while (written < TOTAL_CHUNKS) {
          written++
          lastProgress = Date.now()
          if (!res.write(CHUNK)) return void res.once('drain', more)
        }
        res.end()
      }
      more()
    }
    const res = await up.serve(false)
    // Nobody reads: the upstream can write only what the buffers on the way hold, then waits for a drain.
    await waitFor('the upstream to stall', () => written > 0 && Date.now() - lastProgress > 300)
    expect(written).toBeLessThan(TOTAL_CHUNKS / 2)
    let bytes = 0
    for await (const chunk of res.body) bytes += (chunk as Buffer).length
    expect(bytes).toBe(CHUNK.length * TOTAL_CHUNKS)
  })

  it('aborts the upstream request when the client goes away mid-answer, and releases the lease once', async () => {
    let upstreamClosed = false
    up.script = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(delta('a'))
      res.once('close', () => (upstreamClosed = true))
    }
    const before = up.released
    const res = await up.serve(true)
    res.body.resume()
    res.body.destroy()
    await waitFor('the upstream to see its request closed', () => upstreamClosed)
    await waitFor('the lease to be released', () => up.released === before + 1)
  })

  it('aborts the upstream request when the client goes away before the head', async () => {
    let upstreamClosed = false
    let asked = false
    up.script = (res) => {
      // Prompt processing of a long prompt: no head yet.
      asked = true
      res.once('close', () => (upstreamClosed = true))
    }
    const client = new AbortController()
    const before = up.released
    const answer = up.serve(false, client.signal)
    await waitFor('the upstream to get the request', () => asked)
    client.abort(new Error('client disconnected'))
    await expect(answer).rejects.toThrow(/client disconnected/)
    await waitFor('the upstream to see its request closed', () => upstreamClosed)
    expect(up.released).toBe(before + 1)
  })
})
