import { mkdtemp } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { canBind, PortAllocator } from '../../src/instances/ports.ts'
import { harness, signal, type Harness } from './helpers.ts'

/**
 * A base with `n` free ports in a row, below the kernel's ephemeral range (32768+) so
 * nothing else on the machine is handed them by accident while the test runs.
 */
async function freeRun(n: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000)
    let ok = true
    for (let p = base; p < base + n && ok; p++) ok = await canBind('127.0.0.1', p)
    if (ok) return base
  }
  throw new Error(`no run of ${n} free ports found`)
}

function hold(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(port, '127.0.0.1', () => resolve(s))
  })
}

function ports(h: Harness): number[] {
  return h.manager
    .snapshot()
    .map((i) => i.port)
    .sort((a, b) => a - b)
}

describe('llama.port_base', () => {
  let h: Harness | undefined
  let held: Server | undefined
  afterEach(async () => {
    await h?.close()
    h = undefined
    await new Promise((resolve) => (held ? held.close(resolve) : resolve(undefined)))
    held = undefined
  })

  it('gives two instances started together the ports N and N+1', async () => {
    const base = await freeRun(3)
    h = await harness({ init: { portBase: base } })
    const p = h.profile({ maxInstances: 2 })
    const leases = await Promise.all([h.manager.acquire(p, { signal: signal() }), h.manager.acquire(p, { signal: signal() })])
    expect(ports(h)).toEqual([base, base + 1])
    // Each really listens there: the leases point at those ports.
    expect(leases.map((l) => new URL(l.baseUrl).port).sort()).toEqual([String(base), String(base + 1)])
    for (const l of leases) l.release()
  })

  it('skips a port another process is listening on', async () => {
    const base = await freeRun(3)
    held = await hold(base)
    h = await harness({ init: { portBase: base } })
    const lease = await h.manager.acquire(h.profile(), { signal: signal() })
    expect(ports(h)).toEqual([base + 1])
    lease.release()
  })

  it('hands the port of an instance that is gone to the next one', async () => {
    const base = await freeRun(3)
    h = await harness({ init: { portBase: base } })
    const first = await h.manager.acquire(h.profile(), { signal: signal() })
    first.release()
    expect(await h.manager.unload()).toBe(1)
    const second = await h.manager.acquire(h.profile(), { signal: signal() })
    expect(second.instanceId).not.toBe(first.instanceId)
    expect(ports(h)).toEqual([base])
    second.release()
  })

  it('moves on to the next port when llama-server finds its port taken', async () => {
    const base = await freeRun(3)
    const dir = await mkdtemp(join(tmpdir(), 'herd-instances-'))
    h = await harness({ env: { FAKE_BIND_FAIL_ONCE: join(dir, 'bind-failed-once') }, dir, init: { portBase: base } })
    const lease = await h.manager.acquire(h.profile(), { signal: signal() })
    expect(h.pids).toHaveLength(2)
    expect(ports(h)).toEqual([base + 1])
    expect(h.manager.logs(lease.instanceId)[0]?.lines.join('\n')).toContain(`port ${base} was taken`)
    lease.release()
  })
})

describe('PortAllocator', () => {
  it('never hands out a held port, even to claims made at the same moment', async () => {
    const base = await freeRun(4)
    const a = new PortAllocator('127.0.0.1', base)
    const got = await Promise.all([a.claim(), a.claim(), a.claim()])
    expect(got.sort((x, y) => x - y)).toEqual([base, base + 1, base + 2])
    a.release(base + 1)
    expect(await a.claim()).toBe(base + 1)
    expect(a.holding()).toEqual([base, base + 1, base + 2])
  })

  it('with base 0 takes what the kernel offers and holds it', async () => {
    const a = new PortAllocator('127.0.0.1', 0)
    const [x, y] = await Promise.all([a.claim(), a.claim()])
    expect(x).toBeGreaterThan(0)
    expect(x).not.toBe(y)
    expect(a.holding()).toEqual([x, y].sort((m, n) => (m ?? 0) - (n ?? 0)))
  })
})
