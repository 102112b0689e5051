/** Admin operations on another node: the asking side forwards them with `node`, the serving side answers only those three, straight from the asker. */
import { Readable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { adminForward, meshAdmin, type RemoteAdminRequest } from '../../src/api/admin-mesh.ts'
import { ModelCatalog } from '../../src/router/catalog.ts'
import type { ForwardRequest } from '../../src/mesh/types.ts'
import type { ApiDeps } from '../../src/api/app.ts'
import { cookbook, json, profile, testApp } from './helpers.ts'

const book = cookbook([profile('tiny:default')], 'tiny:default')
const calls: { node: string; req: RemoteAdminRequest }[] = []
const { app } = testApp({
  cookbook: book,
  over: {
    admin: {
      servesLocally: (id) => book.profiles.has(id),
      prewarm: async () => {},
      unload: async () => 2,
      instances: () => [],
      logs: (id) => [{ instanceId: id ?? 'all', lines: ['local line'] }],
      isSelf: (node) => node === 'node-a',
      remote: async (node, req) => {
        calls.push({ node, req })
        return { from: node }
      },
    },
  },
})
afterAll(() => app.close())

const fwd = (over: Partial<ForwardRequest>): ForwardRequest => ({
  requestId: 'r',
  method: 'GET',
  path: '/admin/logs',
  headers: {},
  hops: 1,
  body: Buffer.alloc(0),
  ...over,
})
const deps: Pick<ApiDeps, 'catalog' | 'admin'> = {
  catalog: new ModelCatalog({ nodeName: 'b', startedAt: 0, cookbook: () => book, peers: () => [], backends: () => [] }),
  admin: {
    servesLocally: (id) => book.profiles.has(id),
    prewarm: async () => {},
    unload: async () => 1,
    instances: () => [],
    logs: (id) => [{ instanceId: id ?? 'all', lines: ['b line'] }],
  },
}
const body = async (r: { body: Readable }): Promise<unknown> => {
  let text = ''
  for await (const c of r.body) text += String(c)
  return JSON.parse(text)
}

describe('admin routes with a node', () => {
  it('answers locally without a node or when it names this node', async () => {
    for (const url of ['/admin/logs?instance=x', '/admin/logs?instance=x&node=node-a']) {
      const res = await app.inject({ method: 'GET', url })
      expect(res.json()).toEqual({ logs: [{ instanceId: 'x', lines: ['local line'] }] })
    }
    expect(calls).toHaveLength(0)
  })

  it('sends logs, prewarm and unload for another node over the mesh, without the node field in the body', async () => {
    const logs = await app.inject({ method: 'GET', url: '/admin/logs?instance=tiny%3Adefault%231&node=b' })
    expect(logs.json()).toEqual({ from: 'b' })
    const unload = await app.inject({
      method: 'POST',
      url: '/admin/unload',
      headers: { 'content-type': 'application/json' },
      payload: { model: 'tiny', node: 'b' },
    })
    expect(unload.json()).toEqual({ from: 'b' })
    await app.inject({ method: 'POST', url: '/admin/prewarm', headers: { 'content-type': 'application/json' }, payload: { model: 'tiny', node: 'c' } })
    expect(calls.map((c) => [c.node, c.req.method, c.req.path, c.req.body])).toEqual([
      ['b', 'GET', '/admin/logs?instance=tiny%3Adefault%231', undefined],
      ['b', 'POST', '/admin/unload', { model: 'tiny' }],
      ['c', 'POST', '/admin/prewarm', { model: 'tiny' }],
    ])
  })

  it('refuses a node that is not a string', async () => {
    const res = await app.inject({ method: 'POST', url: '/admin/unload', headers: { 'content-type': 'application/json' }, payload: { node: 7 } })
    expect(res.statusCode).toBe(400)
    expect(res.json().error.param).toBe('node')
  })
})

describe('the serving side of a forwarded admin request', () => {
  it('answers logs, prewarm and unload like the local routes', async () => {
    expect(await body(await adminForward(deps, 'b', fwd({ path: '/admin/logs?instance=i1' }), AbortSignal.timeout(1000)))).toEqual({
      logs: [{ instanceId: 'i1', lines: ['b line'] }],
    })
    const unload = fwd({ method: 'POST', path: '/admin/unload', body: Buffer.from('{"model":"tiny"}') })
    expect(await body(await adminForward(deps, 'b', unload, AbortSignal.timeout(1000)))).toEqual({ model: 'tiny:default', stopped: 1 })
  })

  it('refuses one relayed through another node, and every other admin path', async () => {
    await expect(adminForward(deps, 'b', fwd({ hops: 2 }), AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'max_hops' })
    await expect(adminForward(deps, 'b', fwd({ path: '/admin/keys' }), AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'not_found' })
    await expect(adminForward(deps, 'b', fwd({ method: 'POST', path: '/admin/logs' }), AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'not_found' })
  })
})

describe('the asking side', () => {
  const sent: ForwardRequest[] = []
  const admin = (answer: () => ReturnType<typeof json>) =>
    meshAdmin({
      selfId: () => 'self-id',
      selfName: 'a',
      peers: () => [{ id: 'peer-b', name: 'b', fresh: true }],
      forward: async (_id, req) => {
        sent.push(req)
        return answer()
      },
    })

  it('names this node by id or name, and finds a peer by either', async () => {
    const m = admin(() => json({ ok: true }))
    expect(m.isSelf('self-id') && m.isSelf('a') && !m.isSelf('b')).toBe(true)
    expect(await m.remote('b', { method: 'GET', path: '/admin/logs', body: undefined, signal: AbortSignal.timeout(1000) })).toEqual({ ok: true })
    expect(await m.remote('peer-b', { method: 'POST', path: '/admin/unload', body: { model: 'x' }, signal: AbortSignal.timeout(1000) })).toEqual({ ok: true })
    expect(sent.map((s) => [s.hops, s.method, s.path, s.body.toString()])).toEqual([
      [1, 'GET', '/admin/logs', ''],
      [1, 'POST', '/admin/unload', '{"model":"x"}'],
    ])
    await expect(m.remote('z', { method: 'GET', path: '/admin/logs', body: undefined, signal: AbortSignal.timeout(1000) })).rejects.toMatchObject({
      code: 'not_found',
    })
  })

  it("turns the peer's error envelope back into its error", async () => {
    const m = admin(() => ({
      status: 404,
      headers: { 'content-type': 'application/json', 'x-herd-error': 'model_not_found' },
      body: Readable.from([Buffer.from('{"error":{"message":"no such model"}}')]),
      servedBy: 'b',
    }))
    await expect(m.remote('b', { method: 'POST', path: '/admin/prewarm', body: {}, signal: AbortSignal.timeout(1000) })).rejects.toMatchObject({
      code: 'model_not_found',
      message: expect.stringContaining('no such model'),
    })
  })
})
