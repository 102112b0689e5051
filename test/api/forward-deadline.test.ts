import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { forwardHandler } from '../../src/api/index.ts'
import { ModelCatalog, WAIT_HEADER, type ForwardRequest } from '../../src/router/index.ts'
import type { RouteRequest } from '../../src/router/types.ts'
import { cookbook, profile } from './helpers.ts'

function handler() {
  const routed: RouteRequest[] = []
  const catalog = new ModelCatalog({ nodeName: 'self', startedAt: 1, cookbook: () => cookbook([profile('m:default')]), peers: () => [] })
  const handle = forwardHandler({
    nodeName: 'self',
    catalog,
    route: async (r) => {
      routed.push(r)
      return { status: 200, headers: {}, body: Readable.from([]), servedBy: 'self' }
    },
  })
  return { routed, handle }
}

const forward = (headers: Record<string, string>): ForwardRequest => ({
  requestId: 'r1',
  method: 'POST',
  path: '/v1/chat/completions',
  headers,
  hops: 1,
  body: Buffer.from('{"model":"m"}'),
})

describe('forward handler', () => {
  it('turns the time left a peer sent into a deadline on this node’s clock for the router', async () => {
    const { routed, handle } = handler()
    const before = Date.now()
    await handle(forward({ [WAIT_HEADER]: '2500' }), { signal: new AbortController().signal })
    expect(routed[0]?.deadline).toBeGreaterThanOrEqual(before + 2_500)
    expect(routed[0]?.deadline).toBeLessThanOrEqual(Date.now() + 2_500)
  })

  it('ignores a value that is not a plain number of milliseconds', async () => {
    const { routed, handle } = handler()
    for (const value of ['soon', '-5', '1e20', '12.5', '9999999999999'])
      await handle(forward({ [WAIT_HEADER]: value }), { signal: new AbortController().signal })
    expect(routed.map((r) => r.deadline)).toEqual([undefined, undefined, undefined, undefined, undefined])
  })
})
