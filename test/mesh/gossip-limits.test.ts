/**
 * What a peer holding the secret cannot do with gossip: hand a node 10,000 peers to dial,
 * speak for another node, or make it drop the peer's other traffic by sending a bad state.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_STATE_BYTES } from '../../src/mesh/gossip.ts'
import { MAX_GOSSIP_PEERS } from '../../src/mesh/state-schema.ts'
import { RawPeer, headFrame, validState } from './fixtures/raw-peer.ts'
import { FrameType } from '../../src/mesh/frame.ts'
import { Nodes, waitFor, type TestNode } from './helpers.ts'

const FAKE_ID = '12D3KooWCTjeiuTGq9E1Ap7CCAkz7YNThV5ynqyjwxTSwifcnUoH'

function encode(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8')
}

describe('gossip limits against a peer holding the secret', () => {
  const nodes = new Nodes()
  const raws: RawPeer[] = []
  afterEach(async () => {
    await Promise.all(raws.splice(0).map((r) => r.stop()))
    await nodes.stopAll()
  })

  async function target(): Promise<{ b: TestNode; raw: RawPeer }> {
    const b = await nodes.start({ name: 'b' })
    const raw = await RawPeer.start(nodes.secret)
    raws.push(raw)
    await raw.connect(b.mesh.addresses()[0]!)
    await waitFor('b to see the raw peer connected', () => b.mesh.connectedPeers().includes(raw.peerId))
    return { b, raw }
  }

  const sees = (b: TestNode, raw: RawPeer, name: string): boolean => b.mesh.peers().some((p) => p.id === raw.peerId && p.name === name)

  it('drops a state naming 10,000 peers, logs it, and applies the next good state on the same stream', async () => {
    const { b, raw } = await target()
    const { lp } = await raw.openState(b.mesh.peerId)
    const peers = Array.from({ length: 10_000 }, (_, i) => ({ id: FAKE_ID, addrs: [`/ip4/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/tcp/7946`] }))
    await lp.write(encode(validState(raw.peerId, { name: 'flood', peers })))
    await waitFor('the refusal', () => b.mesh.refusals().bad_state === 1)
    expect(sees(b, raw, 'flood')).toBe(false)
    await lp.write(encode(validState(raw.peerId, { name: 'good', seq: 2 })))
    await waitFor('the good state', () => sees(b, raw, 'good'))
  })

  it(`accepts up to ${MAX_GOSSIP_PEERS} peers per state and skips the ids that are not peer ids`, async () => {
    const { b, raw } = await target()
    const { lp } = await raw.openState(b.mesh.peerId)
    const peers = [
      { id: 'not-a-peer-id', addrs: ['/ip4/10.0.0.1/tcp/1'] },
      { id: FAKE_ID, addrs: ['not a multiaddr', '/ip4/10.0.0.2/tcp/1'] },
    ]
    await lp.write(encode(validState(raw.peerId, { name: 'odd-peers', peers })))
    await waitFor('the state', () => sees(b, raw, 'odd-peers'))
    await lp.write(encode(validState(raw.peerId, { name: 'after', seq: 2 })))
    await waitFor('the next state on the same stream', () => sees(b, raw, 'after'))
  })

  it('drops a state that speaks for another node and reads on', async () => {
    const { b, raw } = await target()
    const { lp } = await raw.openState(b.mesh.peerId)
    await lp.write(encode(validState(FAKE_ID, { name: 'forged' })))
    await lp.write(encode({ not: 'a state' }))
    await lp.write(Buffer.from('{not json'))
    await lp.write(encode(validState(raw.peerId, { name: 'honest' })))
    await waitFor('the honest state', () => sees(b, raw, 'honest'))
    expect(b.mesh.peers().some((p) => p.id === FAKE_ID)).toBe(false)
    expect(b.mesh.refusals()).toMatchObject({ forged_state: 1, bad_state: 2 })
  })

  it('closes only the gossip stream on a state over the size limit: forwarding goes on, and a new stream is heard', async () => {
    const { b, raw } = await target()
    const first = await raw.openState(b.mesh.peerId)
    const closed = new Promise<void>((resolve) => first.stream.addEventListener('close', () => resolve(), { once: true }))
    await first.lp.write(encode(validState(raw.peerId, { name: 'huge', padding: 'x'.repeat(MAX_STATE_BYTES + 1) } as never))).catch(() => {})
    await closed
    expect(b.mesh.refusals()).toMatchObject({ state_too_large: 1 })
    expect(b.mesh.connectedPeers()).toContain(raw.peerId)
    // The connection's other traffic is untouched: a forwarded request is served.
    const s = await raw.openForward(b.mesh.peerId)
    s.stream.send(headFrame())
    expect((await s.reader.next({ timeoutMs: 2000 }))?.type).toBe(FrameType.ResponseHead)
    const second = await raw.openState(b.mesh.peerId)
    await second.lp.write(encode(validState(raw.peerId, { name: 'back' })))
    await waitFor('the state on the new stream', () => sees(b, raw, 'back'))
  })
})
