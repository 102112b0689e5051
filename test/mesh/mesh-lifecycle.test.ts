import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { PEER_KEY_FILE, createMesh } from '../../src/mesh/index.ts'
import { Nodes, echoHandler, fakeLocalState, logger, peerIds, waitFor } from './helpers.ts'

describe('mesh lifecycle', () => {
  const nodes = new Nodes()
  const homes: string[] = []
  afterEach(async () => {
    await nodes.stopAll()
    await Promise.all(homes.splice(0).map((h) => rm(h, { recursive: true, force: true })))
  })

  it('refuses to start without a cluster secret and says to run herd init', async () => {
    const home = await mkdtemp(join(tmpdir(), 'herd-mesh-'))
    homes.push(home)
    const mesh = createMesh({ logger, localState: () => fakeLocalState('x'), onForward: echoHandler('x') }, { home, secret: null, mdns: false })
    await expect(mesh.start()).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringMatching(/herd init/) })
    expect(mesh.isStarted()).toBe(false)
  })

  it('rejects a malformed peer address at start, naming it, and leaves nothing running', async () => {
    const home = await mkdtemp(join(tmpdir(), 'herd-mesh-'))
    homes.push(home)
    const mesh = createMesh(
      { logger, localState: () => fakeLocalState('x'), onForward: echoHandler('x') },
      { home, secret: nodes.secret, mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'], peers: ['10.0.0.1:7946'] },
    )
    await expect(mesh.start()).rejects.toThrow(/10\.0\.0\.1:7946/)
    expect(mesh.isStarted()).toBe(false)
    expect(mesh.addresses()).toEqual([])
  })

  it('creates its peer key on first start with mode 600, and start and stop are idempotent', async () => {
    const a = await nodes.start({ name: 'a' })
    expect((await stat(join(a.home, PEER_KEY_FILE))).mode & 0o777).toBe(0o600)
    await Promise.all([a.mesh.start(), a.mesh.start()])
    expect(a.mesh.addresses()[0]).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${a.mesh.peerId}$`))
    await Promise.all([a.mesh.stop(), a.mesh.stop()])
    expect(a.mesh.isStarted()).toBe(false)
    expect(a.mesh.peers()).toEqual([])
  })

  it('can start again after a stop, with the same peer id, and rejoin', async () => {
    const a = await nodes.start({ name: 'a' })
    const b = await nodes.start({ name: 'b', peers: [a.mesh.addresses()[0]!] })
    await waitFor('b to see a', () => peerIds(b).includes(a.mesh.peerId))
    const id = b.mesh.peerId
    await b.mesh.stop()
    await b.mesh.start()
    expect(b.mesh.peerId).toBe(id)
    await waitFor('b to see a again', () => peerIds(b).includes(a.mesh.peerId))
    await waitFor('a to see b again', () => peerIds(a).includes(id))
  })

  it('stops promptly while a forwarded request is in flight, aborting its handler', async () => {
    let handlerSignal: AbortSignal | undefined
    const b = await nodes.start({
      name: 'b',
      onForward: (_req, { signal }) => {
        handlerSignal = signal
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
      },
    })
    const a = await nodes.start({ name: 'a', peers: [b.mesh.addresses()[0]!] })
    await waitFor('a to see b', () => peerIds(a).includes(b.mesh.peerId))
    const pending = a.mesh.forward(
      b.mesh.peerId,
      { requestId: 'r', method: 'POST', path: '/x', headers: {}, hops: 1, body: Buffer.alloc(0) },
      { signal: AbortSignal.timeout(10_000) },
    )
    const outcome = pending.catch((err: unknown) => err)
    await waitFor('the handler to run', () => handlerSignal)
    const t0 = Date.now()
    await b.mesh.stop()
    // A graceful close would wait on the stream; stop resets it instead.
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(handlerSignal!.aborted).toBe(true)
    expect(await outcome).toMatchObject({ code: 'peer_unavailable' })
  })
})
