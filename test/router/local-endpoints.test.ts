/**
 * The local target for the endpoints beyond POST/OpenAI: a GET (`/props?model=…`) goes
 * upstream as a GET without a body, and a stream that fails after its head ends with the
 * error event its route's clients parse (Anthropic's `event: error` on /v1/messages).
 * Against the fake llama-server, through the real api, router and supervisor.
 */
import { text } from 'node:stream/consumers'
import type { FastifyInstance } from 'fastify'
import { Agent } from 'undici'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { ErrorShape } from '../../src/errors/index.ts'
import { Router, serveLocal, type LocalTargetComponents } from '../../src/router/index.ts'
import type { RouteRequest } from '../../src/router/types.ts'
import { cookbook, testApp } from '../api/helpers.ts'
import { harness, logger, signal, type Harness } from '../instances/helpers.ts'

const dispatcher = new Agent()
afterAll(async () => {
  await dispatcher.close()
})

let h: Harness | undefined
let app: FastifyInstance | undefined
afterEach(async () => {
  await app?.close()
  await h?.close()
  app = undefined
  h = undefined
})

const resources = { gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1000 }

async function setup(limitMs?: number): Promise<{ app: FastifyInstance; local: LocalTargetComponents }> {
  h = await harness({ env: { FAKE_TOKEN_RATE: 20 } })
  const p = h.profile({ maxRequestDurationMs: limitMs })
  const local: LocalTargetComponents = { logger, instances: h.manager, dispatcher, nodeName: 'node-a', profile: (id) => (id === p.id ? p : undefined) }
  const router = new Router({ logger, local, localModels: () => [], localResources: () => resources, draining: () => false })
  app = testApp({ cookbook: cookbook([p]), route: (req) => router.route(req) }).app
  await h.manager.prewarm(p, { signal: signal() })
  return { app, local }
}

describe('the local target', () => {
  it('sends GET /props?model=… upstream as a GET and relays the answer', async () => {
    const { app: a } = await setup()
    const res = await a.inject({ method: 'GET', url: '/props?model=tiny' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ total_slots: 1, build_info: 'b0-fake' })
  })

  it('ends a stream that runs past its limit with the error event in the shape of the request', async () => {
    const { local } = await setup(300)
    const body = Buffer.from(JSON.stringify({ messages: [], max_tokens: 200, stream: true }))
    const req = (errorShape: ErrorShape): RouteRequest => ({
      requestId: 'r',
      endpoint: 'chat',
      path: '/v1/chat/completions',
      profileId: 'tiny:default',
      body,
      stream: true,
      hops: 0,
      headers: {},
      signal: signal(),
      errorShape,
      receivedAt: performance.now(),
    })
    const anthropic = await text((await serveLocal(local, req('anthropic'))).body)
    expect(anthropic).toMatch(/\n\nevent: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"[^"]*max_request_duration_ms[^"]*"\}\}\n\n$/)
    const openai = await text((await serveLocal(local, req('openai'))).body)
    expect(openai).toMatch(/\n\ndata: \{"error":\{"message":"[^"]*","type":"server_error","param":null,"code":"upstream_timeout"\}\}\n\n$/)
  })
})
