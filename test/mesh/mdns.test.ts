import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { netnsSupport, withNetns } from '../helpers/netns.ts'

// mDNS must never run on the machine's real interfaces: without namespaces this suite fails rather than skips.
const support = netnsSupport()
const fixture = fileURLToPath(new URL('./fixtures/mesh-node.ts', import.meta.url))

interface PeersLine {
  event: 'peers'
  peers: Array<{ id: string; name: string }>
}

describe('mesh discovery by mDNS, in a private network namespace', () => {
  it('can make network namespaces here (root and iproute2)', () => {
    expect(support).toEqual({ ok: true })
  })

  const homes: string[] = []
  afterEach(async () => {
    await Promise.all(homes.splice(0).map((h) => rm(h, { recursive: true, force: true })))
  })

  it('lets three node processes that know no addresses find each other by mDNS alone', async () => {
    const secret = generateSwarmKey().split('\n')[2]!
    await withNetns(async (ns) => {
      const nodes = await Promise.all(
        ['n1', 'n2', 'n3'].map(async (name) => {
          const home = await mkdtemp(join(tmpdir(), 'herd-mdns-'))
          homes.push(home)
          const child = ns.spawn(process.execPath, [
            fixture,
            '--name',
            name,
            '--home',
            home,
            '--secret',
            secret,
            '--mdns',
            '--service-tag',
            `_herd-${ns.name}._udp.local`,
          ])
          const started = JSON.parse(await child.waitForLine((l) => l.includes('"started"'), 15_000)) as { peerId: string }
          return { name, child, peerId: started.peerId }
        }),
      )
      const t0 = Date.now()
      for (const node of nodes) {
        const others = nodes
          .filter((n) => n !== node)
          .map((n) => n.peerId)
          .sort()
        await node.child.waitForLine((l) => {
          const msg = JSON.parse(l) as PeersLine | { event: string }
          return msg.event === 'peers' && JSON.stringify((msg as PeersLine).peers.map((p) => p.id).sort()) === JSON.stringify(others)
        }, 10_000)
      }
      expect(Date.now() - t0).toBeLessThan(10_000)
    })
  })

  it('cleans the namespace up afterwards', async () => {
    let name = ''
    await withNetns(async (ns) => {
      name = ns.name
      expect(ns.run('ip', ['-o', 'link']).stdout).toMatch(/lo:.*MULTICAST/)
    })
    const { spawnSync } = await import('node:child_process')
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(name)
  })
})
