/**
 * A local answer's body keeps its own tail: the tenant meter reads usage there and has its
 * usage-chunk filter applied by the body itself, instead of piping it through a second
 * stream. What reaches the client must be exactly what the two-stream path sent.
 */
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { text } from 'node:stream/consumers'
import pino from 'pino'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveLocal } from '../../src/router/index.ts'
import { keepsTail, type RouteRequest, type UpstreamResponse } from '../../src/router/types.ts'
import { usageChunkFilter } from '../../src/tenants/stream-usage.ts'
import { tapUsage, type SeenUsage } from '../../src/tenants/usage-tap.ts'
import { profile } from '../api/helpers.ts'

let upstream: Server
let baseUrl: string
const dispatcher = new Agent()
let script: (res: ServerResponse) => void = () => {}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume()
    script(res)
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
})
afterAll(async () => {
  await dispatcher.close()
  await new Promise((resolve) => upstream.close(resolve))
})

function serve(stream: boolean): Promise<UpstreamResponse> {
  const p = profile('m:default')
  const req: RouteRequest = {
    requestId: 'r1',
    endpoint: 'chat',
    path: '/v1/chat/completions',
    profileId: p.id,
    body: Buffer.from('{}'),
    stream,
    hops: 0,
    headers: {},
    signal: new AbortController().signal,
  }
  return serveLocal(
    {
      logger: pino({ level: 'silent' }),
      nodeName: 'self',
      dispatcher,
      profile: () => p,
      instances: { acquire: async () => ({ instanceId: 'i1', baseUrl, exited: new AbortController().signal, release: () => {} }) },
    },
    req,
  )
}

const delta = (s: string): string => `data: {"choices":[{"index":0,"delta":{"content":"${s}"}}]}\n\n`
const USAGE = 'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n'

describe('a local body read by the tenant meter', () => {
  it('drops the usage chunk the meter asked for, passes every other byte, and reports the usage', async () => {
    script = (res) => {
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
    const res = await serve(true)
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
    script = (res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer)
    const res = await serve(false)
    let seen: SeenUsage | undefined | 'not called' = 'not called'
    const metered = tapUsage(res, (u) => (seen = u))
    expect(await text(metered.body)).toBe(answer)
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual({ promptTokens: 5, completionTokens: 2 })

    script = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(delta('a'))
    }
    const left = await serve(true)
    let after: SeenUsage | undefined | 'not called' = 'not called'
    tapUsage(left, (u) => (after = u), usageChunkFilter())
    left.body.destroy()
    await new Promise((resolve) => left.body.once('close', resolve))
    expect(after).toBeUndefined()
  })
})
