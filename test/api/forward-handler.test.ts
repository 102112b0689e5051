import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { describe, expect, it } from 'vitest'
import { forwardHandler } from '../../src/api/index.ts'
import { ModelCatalog } from '../../src/router/index.ts'
import { cookbook, profile } from './helpers.ts'

const book = cookbook([profile('tiny:default')], 'tiny:default')
const catalog = new ModelCatalog({ nodeName: 'node-a', startedAt: 0, cookbook: () => book, peers: () => [] })
const handle = forwardHandler({
  nodeName: 'node-a',
  catalog,
  route: async () => {
    throw new Error('not reached')
  },
})
const signal = new AbortController().signal

describe('forward handler', () => {
  it.each([
    ['path', { path: `/v1/${'p'.repeat(50_000)}`, body: Buffer.from('{}') }, 'not_found'],
    ['model name', { path: '/v1/chat/completions', body: Buffer.from(JSON.stringify({ model: 'm'.repeat(50_000) })) }, 'model_not_found'],
  ])('cuts a peer-sent %s in its refusal to a short answer', async (_name, over, code) => {
    const res = await handle({ requestId: 'r1', method: 'POST', headers: {}, hops: 1, ...over }, { signal })
    expect(res.headers['x-herd-error']).toBe(code)
    const body = await text(res.body)
    expect(body.length).toBeLessThan(400)
    expect(JSON.parse(body).error.message).toMatch(/… \(\d+ chars\)/)
  })
})

describe('a forwarded request that waits', () => {
  it('hands what it waits on here to the forward server, for the keep-alives to the asking node', async () => {
    let reported: (() => unknown) | undefined
    const handler = forwardHandler({
      nodeName: 'node-a',
      catalog,
      route: async (req) => {
        req.onWaiting?.(() => ({ kind: 'loading', model: req.profileId, node: 'node-a' }))
        return { status: 200, headers: {}, body: Readable.from(['ok']), servedBy: 'node-a' }
      },
    })
    await handler(
      { requestId: 'r1', method: 'POST', path: '/v1/chat/completions', headers: {}, hops: 1, body: Buffer.from('{"model":"tiny","stream":true}') },
      { signal, onWaiting: (state) => (reported = state) },
    )
    expect(reported?.()).toMatchObject({ kind: 'loading' })
  })
})
