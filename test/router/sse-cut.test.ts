/**
 * A local event stream cut off in the middle of an event (llama-server died, or the
 * request's time ran out between two TCP chunks) ends with a clean error event: the
 * half-received event is dropped instead of merging with the error into one broken event.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { text } from 'node:stream/consumers'
import pino from 'pino'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveLocal } from '../../src/router/index.ts'
import type { RouteRequest } from '../../src/router/types.ts'
import { profile } from '../api/helpers.ts'

let upstream: Server
let baseUrl: string
const dispatcher = new Agent()
let script: (res: import('node:http').ServerResponse) => void = () => {}

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

function serve(): Promise<string> {
  const p = profile('m:default')
  const req: RouteRequest = {
    requestId: 'r1',
    endpoint: 'chat',
    path: '/v1/chat/completions',
    profileId: p.id,
    body: Buffer.from('{}'),
    stream: true,
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
  ).then((res) => text(res.body))
}

describe('a local event stream cut off mid-event', () => {
  it('drops the half event and ends with a parseable error event', async () => {
    script = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3,"choi')
      setImmediate(() => res.socket?.destroy())
    }
    const events = (await serve()).split('\n\n').filter((e) => e !== '')
    expect(events.slice(0, 2)).toEqual(['data: {"n":1}', 'data: {"n":2}'])
    expect(events).toHaveLength(3)
    const last = JSON.parse((events[2] ?? '').slice('data: '.length)) as { error: { code: string } }
    expect(last.error.code).toBe('upstream_error')
  })

  it('passes events split across chunks through whole, and a stream that ends normally unchanged', async () => {
    script = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"n":1}\n\ndata: {"n"')
      setImmediate(() => res.end(':2}\n\ndata: [DONE]\n\n'))
    }
    expect(await serve()).toBe('data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n')
  })
})
