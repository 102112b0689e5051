/**
 * Keys and counters over `/herd/tenants/1.0.0` between in-process meshes on loopback, and
 * what the protocol refuses from a peer holding the secret but breaking its rules.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { afterEach, describe, expect, it } from 'vitest'
import { Tenants, TENANTS_PROTOCOL } from '../../src/tenants/index.ts'
import { MAX_RECORDS_PER_MESSAGE, parseTenantMessage } from '../../src/tenants/wire.ts'
import { RawPeer } from '../mesh/fixtures/raw-peer.ts'
import { holdsFor, Nodes, waitFor, type TestNode } from '../mesh/helpers.ts'
import { logger, record } from './helpers.ts'

const nodes = new Nodes()
const started: (Tenants | RawPeer)[] = []
afterEach(async () => {
  await nodes.stopAll()
  await Promise.all(started.splice(0).map((s) => s.stop()))
})

async function member(name: string, peers: string[] = [], counterPushMs = 10): Promise<{ node: TestNode; tenants: Tenants }> {
  const holder: { node?: TestNode } = {}
  const tenants = new Tenants(
    { logger, nodeId: () => holder.node?.mesh.peerId ?? name },
    { home: ':memory:', heartbeatMs: Math.min(10 * counterPushMs, 60_000), counterPushMs },
  )
  await tenants.start()
  started.push(tenants)
  const self = await nodes.start({ name, peers, services: [tenants.replication] })
  holder.node = self
  return { node: self, tenants }
}

const address = (n: TestNode): string => n.mesh.addresses()[0] as string

describe('tenants replication', () => {
  it('carries a key made on one node to the others, and its revocation', async () => {
    const a = await member('a')
    const b = await member('b', [address(a.node)])
    const { record: made, secret } = a.tenants.createKey({ name: 'alice', rpm: 5 })
    await waitFor('b to hold the key', () => b.tenants.identify(secret.reveal()))
    expect(b.tenants.keyring.get(made.id)).toEqual(made)
    a.tenants.revokeKey(made.id)
    await waitFor('b to refuse the key', () => {
      const found = b.tenants.identify(secret.reveal())
      return found !== undefined && 'refused' in found
    })
  })

  it('gives a node that joins later every key, through the digest at the start of its stream', async () => {
    const a = await member('a')
    const b = await member('b', [address(a.node)])
    const made = Array.from({ length: 5 }, (_, i) => a.tenants.createKey({ name: `k${i}` }).record)
    b.tenants.revokeKey((await waitFor('b to hold k0', () => b.tenants.keyring.get(made[0]!.id)))!.id)
    const c = await member('c', [address(b.node)])
    await waitFor('c to hold all five, k0 revoked', () => c.tenants.keyring.size === 5 && c.tenants.keyring.get(made[0]!.id)?.revoked === true)
    // …and the summaries agree, so nothing more needs to travel.
    await waitFor('the same summary everywhere', () => a.tenants.keyring.summary() === c.tenants.keyring.summary())
  })

  it('sums a key’s use over the nodes', async () => {
    const a = await member('a')
    const b = await member('b', [address(a.node)])
    const { secret } = a.tenants.createKey({ name: 'counted', rpm: 100 })
    const found = await waitFor('b to hold the key', () => b.tenants.identify(secret.reveal()))
    if (!('tenant' in found)) throw new Error('refused')
    const route = {
      requestId: 'r',
      endpoint: 'chat' as const,
      path: '/v1/chat/completions',
      profileId: 'm:default',
      body: Buffer.from('{}'),
      stream: false,
      hops: 0,
      headers: {},
      signal: new AbortController().signal,
    }
    b.tenants.admit(found.tenant, route)
    b.tenants.admit(found.tenant, route)
    await waitFor('a to see b’s two requests', () => a.tenants.usage(found.tenant.id).rate.requests === 2)
  })

  it('pushes the counts of a key close to its limit at once, others within counter_push_ms', async () => {
    const a = await member('a', [], 60_000)
    const b = await member('b', [address(a.node)], 60_000)
    const { secret } = a.tenants.createKey({ name: 'near', rpm: 10 })
    const found = await waitFor('b to hold the key', () => b.tenants.identify(secret.reveal()))
    if (!('tenant' in found)) throw new Error('refused')
    const route = {
      requestId: 'r',
      endpoint: 'chat' as const,
      path: '/v1/chat/completions',
      profileId: 'm:default',
      body: Buffer.from('{}'),
      stream: false,
      hops: 0,
      headers: {},
      signal: new AbortController().signal,
    }
    for (let i = 0; i < 7; i++) b.tenants.admit(found.tenant, route)
    await holdsFor('a not to hear of b’s first seven requests yet (a minute’s push delay)', () => a.tenants.usage(found.tenant.id).rate.requests === 0, 200)
    // The eighth brings the key to 80 % of its limit: from there every count goes out at once.
    b.tenants.admit(found.tenant, route)
    await waitFor('a to see all eight', () => a.tenants.usage(found.tenant.id).rate.requests === 8, 1000)
  })

  it('refuses what breaks the schema, and a record reusing another key’s secret, and reads on', async () => {
    const a = await member('a')
    const raw = await RawPeer.start(nodes.secret)
    started.push(raw)
    const target = await raw.connect(address(a.node))
    const stream = await raw.node.dialProtocol(peerIdFromString(target), TENANTS_PROTOCOL, { signal: AbortSignal.timeout(5000) })
    const lp = lpStream(stream)
    const send = (m: unknown) => lp.write(Buffer.from(JSON.stringify(m)))
    const { record: held } = a.tenants.createKey({ name: 'held' })
    await send({ t: 'records', r: [{ ...record(), rpm: -1 }] })
    await send({ t: 'records', r: Array.from({ length: MAX_RECORDS_PER_MESSAGE + 1 }, () => record()) })
    await send({ t: 'nonsense' })
    await send({ t: 'records', r: [record({ hash: held.hash, name: 'thief' })] })
    const good = record({ name: 'good' })
    await send({ t: 'records', r: [good] })
    await waitFor('a to apply the good record', () => a.tenants.keyring.get(good.id))
    expect(a.tenants.keyring.size).toBe(2)
    expect(a.node.mesh.refusals()).toMatchObject({ bad_tenant_message: 4 })
  })

  it('parses messages within their caps only', () => {
    const ok = parseTenantMessage(Buffer.from(JSON.stringify({ t: 'counters', w: 5000, c: [{ k: record().id, b: [[1, 2, 3]], d: [0, 1, 2, 3] }] })))
    expect(ok).not.toBeInstanceOf(Error)
    expect(parseTenantMessage(Buffer.from('{'))).toBeInstanceOf(Error)
    expect(parseTenantMessage(Buffer.from(JSON.stringify({ t: 'counters', w: 5000, c: [{ k: 'key_x', b: [] }] })))).toBeInstanceOf(Error)
    expect(parseTenantMessage(Buffer.from(JSON.stringify({ t: 'digest', from: '', to: null, e: [[record().id, -1, 0, 'n']] })))).toBeInstanceOf(Error)
    // Never a secret: a record with an extra field (say, the secret) breaks the strict schema.
    expect(parseTenantMessage(Buffer.from(JSON.stringify({ t: 'records', r: [{ ...record(), secret: 'herd-x' }] })))).toBeInstanceOf(Error)
  })
})
