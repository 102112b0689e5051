import { afterEach, describe, expect, it, vi } from 'vitest'
import { generateSwarmKey, type PeerView } from '../../src/mesh/index.ts'
import { Nodes, holdsFor, nextEvent, peerIds, waitFor } from './helpers.ts'

describe('mesh gossip over loopback', () => {
  const nodes = new Nodes()
  afterEach(() => nodes.stopAll())

  it('connects two nodes through an explicit peer address and exchanges states within two heartbeats', async () => {
    const a = await nodes.start({ name: 'a' })
    const joinedOnA = nextEvent<[PeerView]>(a.mesh, 'peer:joined')
    const b = await nodes.start({ name: 'b', peers: [a.mesh.addresses()[0]!] })
    const joinedOnB = nextEvent<[PeerView]>(b.mesh, 'peer:joined')
    await waitFor('the connection', () => b.mesh.connectedPeers().includes(a.mesh.peerId), 5000, 1)
    // Counted in a's own heartbeats (its seq) since the connection opened, so a loaded machine does not make this flaky.
    const seqAtConnect = a.mesh.selfState().seq
    const [first] = await joinedOnB
    expect(first.id).toBe(a.mesh.peerId)
    const heartbeats = first.state.seq - seqAtConnect
    if (process.env.HERD_TEST_VERBOSE) process.stderr.write(`first state after ${heartbeats} heartbeats\n`)
    expect(heartbeats).toBeLessThanOrEqual(2)
    const [view] = await joinedOnA
    expect(view.id).toBe(b.mesh.peerId)
    const viewOfA = b.mesh.peers().find((p) => p.id === a.mesh.peerId)!
    expect(viewOfA).toMatchObject({ name: 'a', fresh: true, connected: true })
    expect(viewOfA.state.id).toBe(a.mesh.peerId)
    expect(viewOfA.addrs.length).toBeGreaterThan(0)
    expect(viewOfA.addrs.every((x) => x.endsWith(`/p2p/${a.mesh.peerId}`))).toBe(true)
  })

  it('lets three nodes that know only the first one all see each other', async () => {
    const a = await nodes.start({ name: 'a' })
    const seed = [a.mesh.addresses()[0]!]
    const b = await nodes.start({ name: 'b', peers: seed })
    const c = await nodes.start({ name: 'c', peers: seed })
    for (const n of [a, b, c]) {
      const others = [a, b, c]
        .filter((o) => o !== n)
        .map((o) => o.mesh.peerId)
        .sort()
      await waitFor(`${n.name} to see both others`, () => JSON.stringify(peerIds(n)) === JSON.stringify(others))
    }
  })

  it('pushes a changed state at once instead of waiting for the heartbeat', async () => {
    const a = await nodes.start({ name: 'a', gossipIntervalMs: 5000 })
    const b = await nodes.start({ name: 'b', gossipIntervalMs: 5000, peers: [a.mesh.addresses()[0]!] })
    await waitFor('b to see a', () => peerIds(b).includes(a.mesh.peerId))
    const before = b.mesh.peers()[0]!.state.seq
    const changed = nextEvent<[PeerView]>(b.mesh, 'peer:state', (v) => v.state.status === 'draining', 1000)
    a.state = { ...a.state, status: 'draining' }
    a.mesh.notifyChanged()
    a.mesh.notifyChanged()
    const [view] = await changed
    expect(view.state.seq).toBeGreaterThan(before)
    expect(a.mesh.selfState()).toMatchObject({ id: a.mesh.peerId, status: 'draining', seq: view.state.seq })
  })

  it('answers peers() with one list while nothing changes within a millisecond, and with a new state or a departure at once', async () => {
    const a = await nodes.start({ name: 'a', gossipIntervalMs: 5000 })
    const b = await nodes.start({ name: 'b', gossipIntervalMs: 5000, peers: [a.mesh.addresses()[0]!] })
    await waitFor('b to see a', () => peerIds(b).includes(a.mesh.peerId))
    // The clock stands still: only a change of the table or of a connection may give a new list.
    const clock = vi.spyOn(Date, 'now').mockReturnValue(Date.now())
    try {
      const list = b.mesh.peers()
      expect(b.mesh.peers()).toBe(list)
      const changed = nextEvent<[PeerView]>(b.mesh, 'peer:state', (v) => v.state.status === 'draining', 2000)
      a.state = { ...a.state, status: 'draining' }
      a.mesh.notifyChanged()
      await changed
      expect(b.mesh.peers()).not.toBe(list)
      expect(b.mesh.peers()[0]).toMatchObject({ id: a.mesh.peerId, fresh: true, connected: true, state: { status: 'draining' } })
      const left = nextEvent<[PeerView]>(b.mesh, 'peer:left', () => true, 5000)
      await a.mesh.stop()
      await left
      expect(b.mesh.peers()).toEqual([])
    } finally {
      clock.mockRestore()
    }
  })

  it('never shows a node holding another secret, on either side', async () => {
    const a = await nodes.start({ name: 'a' })
    const stranger = await nodes.start({ name: 'stranger', secret: generateSwarmKey(), peers: [a.mesh.addresses()[0]!] })
    const b = await nodes.start({ name: 'b', peers: [a.mesh.addresses()[0]!, stranger.mesh.addresses()[0]!] })
    await waitFor('a and b to meet', () => peerIds(a).includes(b.mesh.peerId))
    await holdsFor(
      'the stranger to stay out',
      () => !peerIds(a).includes(stranger.mesh.peerId) && !peerIds(b).includes(stranger.mesh.peerId) && stranger.mesh.peers().length === 0,
      1000,
    )
  })

  it('refuses peers outside a non-empty allowlist, both ways', async () => {
    const b = await nodes.start({ name: 'b' })
    const a = await nodes.start({ name: 'a', allow: [b.mesh.peerId], peers: [b.mesh.addresses()[0]!] })
    const outsider = await nodes.start({ name: 'outsider', peers: [a.mesh.addresses()[0]!, b.mesh.addresses()[0]!] })
    await waitFor('a and b to meet', () => peerIds(a).includes(b.mesh.peerId) && peerIds(b).includes(a.mesh.peerId))
    await waitFor('the outsider to reach b', () => peerIds(outsider).includes(b.mesh.peerId))
    // b gossips the outsider's address to a; a must neither accept it nor dial it.
    await holdsFor('a to keep the outsider out', () => !peerIds(a).includes(outsider.mesh.peerId) && !peerIds(outsider).includes(a.mesh.peerId), 1000)
  })

  it('learns a peer of a peer through gossip and connects to it (A knows only B, C knows only B)', async () => {
    const b = await nodes.start({ name: 'b' })
    const a = await nodes.start({ name: 'a', peers: [b.mesh.addresses()[0]!] })
    const c = await nodes.start({ name: 'c', peers: [b.mesh.addresses()[0]!] })
    await waitFor('a to see c', () => peerIds(a).includes(c.mesh.peerId))
    await waitFor('c to see a', () => peerIds(c).includes(a.mesh.peerId))
    expect(a.mesh.peers().find((p) => p.id === c.mesh.peerId)).toMatchObject({ name: 'c', connected: true })
  })

  it('removes a peer the moment its connection closes', async () => {
    const a = await nodes.start({ name: 'a', gossipIntervalMs: 5000 })
    const b = await nodes.start({ name: 'b', gossipIntervalMs: 5000, peers: [a.mesh.addresses()[0]!] })
    await waitFor('a to see b', () => peerIds(a).includes(b.mesh.peerId))
    const left = nextEvent<[PeerView]>(a.mesh, 'peer:left', (v) => v.id === b.mesh.peerId, 1000)
    const t0 = Date.now()
    await b.mesh.stop()
    const [view] = await left
    // Far below both ways a silent peer would go: peerTimeoutMs (2 s) and staleness (3 × 5 s).
    expect(Date.now() - t0).toBeLessThan(1500)
    expect(view).toMatchObject({ name: 'b', connected: false })
    expect(peerIds(a)).toEqual([])
  })

  it('redials a configured peer that restarts, and takes its new life although seq starts over', async () => {
    const a = await nodes.start({ name: 'a' })
    const addr = a.mesh.addresses()[0]!
    const b = await nodes.start({ name: 'b', peers: [addr] })
    await waitFor('b to see a', () => peerIds(b).includes(a.mesh.peerId))
    const firstLife = b.mesh.peers()[0]!.state
    await waitFor('a to gossip a while', () => (b.mesh.peers()[0]?.state.seq ?? 0) > 10)
    const id = a.mesh.peerId
    await a.mesh.stop()
    await waitFor('b to drop a', () => peerIds(b).length === 0)
    // Same home (same key), same port, new startedAt: a restarted daemon.
    a.state = { ...a.state, startedAt: firstLife.startedAt + 1 }
    const rejoined = nextEvent<[PeerView]>(b.mesh, 'peer:joined', (v) => v.id === id, 5000)
    await nodes.restart(a, { listen: [addr.replace(/\/p2p\/.*/, '')] })
    expect(a.mesh.peerId).toBe(id)
    const [view] = await rejoined
    expect(view.state.startedAt).toBe(firstLife.startedAt + 1)
    expect(view.state.seq).toBeLessThan(10)
  })
})
