import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { forwardHandler } from '../../src/api/index.ts'
import { DEADLINE_HEADER, ModelCatalog, type ForwardRequest } from '../../src/router/index.ts'
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

const forward = (headers: Record<string, string>): ForwardRequest => ({ requestId: 'r1', method: 'POST', path: '/v1/chat/completions', headers, hops: 1, body: Buffer.from('{"model":"m"}') })

describe('forward handler', () => {
  it('hands the mesh-wide deadline a peer sent on to the router', async () => {
    const { routed, handle } = handler()
    await handle(forward({ [DEADLINE_HEADER]: '1790000000000' }), { signal: new AbortController().signal })
    expect(routed[0]?.deadline).toBe(1_790_000_000_000)
  })

  it('ignores a deadline that is not a plain number of epoch ms', async () => {
    const { routed, handle } = handler()
    for (const value of ['soon', '-5', '1e20', '0', '12.5']) await handle(forward({ [DEADLINE_HEADER]: value }), { signal: new AbortController().signal })
    expect(routed.map((r) => r.deadline)).toEqual([undefined, undefined, undefined, undefined, undefined])
  })
})
