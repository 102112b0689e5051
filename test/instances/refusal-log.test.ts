import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import { instanceManager, type InstanceManager } from '../../src/instances/index.ts'
import { harness, rejectionOf, signal, type Harness } from './helpers.ts'

describe('a spawn that admission refuses', () => {
  let h: Harness
  let m: InstanceManager | undefined
  afterEach(async () => {
    await m?.stop()
    m = undefined
    await h.close()
  })

  it('is logged as one expected refusal, without a stack, and not as a failed start', async () => {
    h = await harness({ start: false })
    const lines: { level: number; msg: string; err?: unknown; reason?: string }[] = []
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) })
    m = instanceManager({ healthIntervalMs: 10 })({
      logger,
      binary: () => h.binary,
      runtimeDir: join(h.dir, 'run'),
      fit: async () => {
        throw new HerdError('no_capacity', "'tiny:default' cannot fit on this node: other processes hold the memory")
      },
    })
    await m.start()
    expect(await rejectionOf(m.acquire(h.profile(), { signal: signal() }))).toMatchObject({ code: 'no_capacity' })
    expect(lines.filter((l) => l.msg === 'llama-server failed to start')).toEqual([])
    expect(lines.filter((l) => l.msg === 'llama-server not started: no room')).toMatchObject([
      { level: 40, reason: "'tiny:default' cannot fit on this node: other processes hold the memory" },
    ])
    expect(lines.some((l) => l.err !== undefined)).toBe(false)
    expect(m.counters().spawnFailures).toBe(0)
  })
})
