/**
 * When change pushes go out: a lone change after the debounce, changes that keep coming
 * (load under sustained traffic) at most every sustained interval, and a heartbeat makes a
 * pending change push redundant.
 */
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Gossip } from '../../src/mesh/gossip.ts'
import { Refusals } from '../../src/mesh/refusals.ts'
import type { NodeState } from '../../src/mesh/types.ts'

describe('gossip change pushes', () => {
  let gossip: Gossip
  let snapshots: number[]

  beforeEach(async () => {
    vi.useFakeTimers({ now: 1_000_000 })
    snapshots = []
    const libp2p = { handle: async () => {}, unhandle: async () => {}, dialProtocol: async () => Promise.reject(new Error('unused')), getPeers: () => [] }
    gossip = new Gossip(
      {
        logger: pino({ level: 'silent' }),
        libp2p: libp2p as unknown as ConstructorParameters<typeof Gossip>[0]['libp2p'],
        refusals: new Refusals(pino({ level: 'silent' })),
        snapshot: () => {
          snapshots.push(Date.now())
          return {} as NodeState
        },
        onState: () => {},
      },
      { intervalMs: 1000, debounceMs: 50 },
    )
    await gossip.start()
  })

  afterEach(async () => {
    await gossip.stop()
    vi.useRealTimers()
  })

  it('pushes a lone change after the debounce', async () => {
    gossip.notifyChanged()
    gossip.notifyChanged()
    await vi.advanceTimersByTimeAsync(49)
    expect(snapshots).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(1)
    expect(snapshots).toEqual([1_000_050])
    // Quiet for longer than the sustained interval: the next change goes out after the debounce again.
    await vi.advanceTimersByTimeAsync(400)
    gossip.notifyChanged()
    await vi.advanceTimersByTimeAsync(50)
    expect(snapshots).toEqual([1_000_050, 1_000_500])
  })

  it('pushes changes that keep coming at most every 250 ms', async () => {
    for (let t = 0; t < 900; t += 5) {
      gossip.notifyChanged()
      await vi.advanceTimersByTimeAsync(5)
    }
    // The first after the debounce, then one every 250 ms (50, 300, 550, 800), not 18.
    expect(snapshots.map((t) => t - 1_000_000)).toEqual([50, 300, 550, 800])
  })

  it('drops a pending change push when the heartbeat goes out first', async () => {
    await vi.advanceTimersByTimeAsync(980)
    gossip.notifyChanged()
    await vi.advanceTimersByTimeAsync(20)
    expect(snapshots.map((t) => t - 1_000_000)).toEqual([1000])
    await vi.advanceTimersByTimeAsync(200)
    expect(snapshots).toHaveLength(1)
  })
})
