import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { Dialer } from '../../src/mesh/dialer.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { holdsFor, logger, waitFor } from './helpers.ts'

async function fakePeerIds(n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
}

const SELF = '12D3KooWCTjeiuTGq9E1Ap7CCAkz7YNThV5ynqyjwxTSwifcnUoH'
const PEER = '12D3KooWSrpj3c5StrpXcVYiKg7TFPyHtvhg8GHUQZeaxWTcicWr'

interface Harness {
  dialer: Dialer
  dials: Multiaddr[][]
  connected: Set<string>
  /** Resolve or reject the dial in flight. */
  settle: Array<(result: string | Error) => void>
}

function harness(opts: { allowed?: (id: string) => boolean; baseMs?: number; maxLearnedTargets?: number; maxDialsPerSecond?: number } = {}): Harness {
  const h: Harness = { dialer: undefined as unknown as Dialer, dials: [], connected: new Set(), settle: [] }
  h.dialer = new Dialer(
    {
      logger,
      dial: (addrs) => {
        h.dials.push(addrs)
        return new Promise((resolve, reject) => {
          h.settle.push((r) => (r instanceof Error ? reject(r) : resolve(r)))
        })
      },
      isConnected: (id) => h.connected.has(id),
    },
    {
      selfId: SELF,
      allowed: opts.allowed ?? (() => true),
      backoffBaseMs: opts.baseMs ?? 20,
      backoffMaxMs: 1000,
      ...(opts.maxLearnedTargets === undefined ? {} : { maxLearnedTargets: opts.maxLearnedTargets }),
      ...(opts.maxDialsPerSecond === undefined ? {} : { maxDialsPerSecond: opts.maxDialsPerSecond }),
    },
  )
  return h
}

describe('dialer', () => {
  const made: Dialer[] = []
  afterEach(() => {
    for (const d of made.splice(0)) d.stop()
  })
  const start = (h: Harness): Harness => {
    made.push(h.dialer)
    h.dialer.start()
    return h
  }

  it('dials a configured address at start and keeps one dial in flight per peer', async () => {
    const h = start(harness())
    h.dialer.addConfigured(`/ip4/127.0.0.1/tcp/1/p2p/${PEER}`)
    h.dialer.learn(PEER, [multiaddr('/ip4/127.0.0.2/tcp/2')], 'gossip')
    await waitFor('first dial', () => h.dials.length === 1)
    // The gossip-learned address of the same peer must not start a second dial.
    await expect(waitFor('a second dial', () => h.dials.length > 1, 100)).rejects.toThrow(/timed out/)
    h.connected.add(PEER)
    h.settle[0]!(PEER)
  })

  it('retries a failing address with growing delays', async () => {
    const h = start(harness({ baseMs: 50 }))
    h.dialer.addConfigured('/ip4/127.0.0.1/tcp/1')
    const times: number[] = []
    for (let i = 0; i < 4; i++) {
      await waitFor(`dial ${i + 1}`, () => h.dials.length === i + 1)
      times.push(Date.now())
      h.settle[i]!(new Error('connection refused'))
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]!)
    // 50, 100, 200 ms nominal (±25% jitter): the third gap is clearly longer than the first.
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!)
  })

  it('redials a configured peer after its connection drops', async () => {
    const h = start(harness())
    h.dialer.addConfigured('/ip4/127.0.0.1/tcp/1')
    await waitFor('first dial', () => h.dials.length === 1)
    h.connected.add(PEER)
    h.settle[0]!(PEER)
    h.dialer.onConnected(PEER)
    h.connected.delete(PEER)
    h.dialer.onDisconnected(PEER)
    await waitFor('redial', () => h.dials.length === 2)
  })

  it('never dials itself, nor a peer the allowlist keeps out', async () => {
    const h = start(harness({ allowed: (id) => id !== PEER }))
    h.dialer.addConfigured(`/ip4/127.0.0.1/tcp/1/p2p/${SELF}`)
    h.dialer.learn(SELF, [multiaddr('/ip4/127.0.0.1/tcp/1')], 'mdns')
    h.dialer.learn(PEER, [multiaddr('/ip4/127.0.0.1/tcp/2')], 'mdns')
    await expect(waitFor('any dial', () => h.dials.length > 0, 100)).rejects.toThrow(/timed out/)
  })

  it('adds the peer id to learned addresses so the dial checks who answers', async () => {
    const h = start(harness())
    h.dialer.learn(PEER, [multiaddr('/ip4/127.0.0.1/tcp/2')], 'mdns')
    await waitFor('dial', () => h.dials.length === 1)
    expect(h.dials[0]!.map(String)).toEqual([`/ip4/127.0.0.1/tcp/2/p2p/${PEER}`])
    h.settle[0]!(PEER)
  })

  it("skips a remote peer's loopback addresses when it has others", async () => {
    const h = start(harness())
    h.dialer.learn(PEER, [multiaddr('/ip4/127.0.0.1/tcp/7946'), multiaddr('/ip4/192.168.1.7/tcp/7946')], 'gossip')
    await waitFor('dial', () => h.dials.length === 1)
    expect(h.dials[0]!.map(String)).toEqual([`/ip4/192.168.1.7/tcp/7946/p2p/${PEER}`])
    h.settle[0]!(PEER)
  })

  it('keeps at most maxLearnedTargets peers learned from gossip, and configured peers on top', async () => {
    const h = start(harness({ maxLearnedTargets: 50, maxDialsPerSecond: 1000 }))
    h.dialer.addConfigured('/ip4/127.0.0.1/tcp/1')
    const ids = await fakePeerIds(300)
    for (const id of ids) h.dialer.learn(id, [multiaddr('/ip4/10.0.0.1/tcp/7946')], 'gossip', 'hostile')
    expect(h.dialer.targetCount()).toEqual({ configured: 1, learned: 50 })
    await waitFor('the dials', () => h.dials.length === 51)
    await expect(waitFor('a 52nd dial', () => h.dials.length > 51, 100)).rejects.toThrow(/timed out/)
  })

  it('starts at most maxDialsPerSecond dials a second, however many targets gossip names', async () => {
    const h = start(harness({ maxDialsPerSecond: 10 }))
    const ids = await fakePeerIds(100)
    for (const id of ids)
      h.dialer.learn(
        id,
        Array.from({ length: 40 }, (_, i) => multiaddr(`/ip4/10.0.0.${i + 1}/tcp/7946`)),
        'gossip',
      )
    const t0 = Date.now()
    await waitFor('the first burst', () => h.dials.length >= 10)
    await holdsFor('the rate to hold', () => h.dials.length <= 10 + Math.ceil(((Date.now() - t0) / 1000) * 10) + 1, 500)
    expect(h.dials.length).toBeLessThanOrEqual(17)
    expect(h.dials.length).toBeGreaterThanOrEqual(12)
    // Addresses per peer are capped as well.
    expect(Math.max(...h.dials.map((d) => d.length))).toBeLessThanOrEqual(16)
  })

  it('rejects a malformed configured address, naming it', () => {
    const h = harness()
    expect(() => h.dialer.addConfigured('192.168.1.7:7946')).toThrow(/192\.168\.1\.7:7946/)
  })
})
