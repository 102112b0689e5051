/** What this node gossips about its instances and traffic for the dashboard, and what the router's per-request view leaves out. */
import { describe, expect, it } from 'vitest'
import type { InstanceSnapshot } from '../../src/instances/types.ts'
import { localModels, localState, runningInstances, type LocalStateSources } from '../../src/router/local-state.ts'
import { Traffic } from '../../src/api/traffic.ts'
import { cookbook, profile } from '../api/helpers.ts'

const snap = (id: string, profileId: string, over: Partial<InstanceSnapshot> = {}): InstanceSnapshot => ({
  id,
  profileId,
  pid: 100,
  port: 1,
  state: { status: 'ready', port: 1, slots: 4, nCtx: 512, since: 0 },
  busy: 1,
  lastUsedAt: 0,
  startedAt: 5,
  gpus: [0],
  ...over,
})

describe('running instances in gossip', () => {
  it('lists live instances per profile with their measured memory, leaving exited ones out', () => {
    const list = runningInstances(
      [
        snap('a#1', 'a:default'),
        snap('a#2', 'a:default', { pid: undefined, state: { status: 'starting', since: 0 }, busy: 0, gpus: [] }),
        snap('b#1', 'b:default', { state: { status: 'exited', code: 0, signal: null, since: 0 } }),
      ],
      (pid) => (pid === 100 ? { vramMb: 1234.4, rssMb: 99.6 } : undefined),
    )
    expect([...list.keys()]).toEqual(['a:default'])
    expect(list.get('a:default')).toEqual([
      { id: 'a#1', state: 'ready', slots: 4, busy: 1, gpus: [0], vramMb: 1234, sysmemMb: 100, startedAt: 5 },
      { id: 'a#2', state: 'starting', slots: 0, busy: 0, gpus: [], vramMb: null, sysmemMb: null, startedAt: 5 },
    ])
    expect(runningInstances([snap('x', 'a:default'), snap('y', 'a:default')], () => undefined, 1).get('a:default')).toHaveLength(1)
  })

  it('puts instance lists and traffic in the gossiped state only, not in the models the router scores per request', () => {
    let asked = 0
    const book = cookbook([profile('a:default')], 'a:default')
    const sources: LocalStateSources = {
      name: 'n',
      herdVersion: 't',
      llamaVersion: () => null,
      startedAt: 0,
      draining: () => false,
      cookbook: () => book,
      load: () => [],
      resources: () => ({ gpus: [], sysmem: { totalMb: 1, freeMb: 1 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1 }),
      fit: () => ({ now: true, afterEviction: true, vramMb: null, sysmemMb: null }),
      running: () => {
        asked++
        return runningInstances([snap('a#1', 'a:default')], () => undefined)
      },
      traffic: () => new Traffic().state(),
    }
    expect(localModels(sources)[0]?.running).toBeUndefined()
    expect(asked).toBe(0)
    const state = localState(sources)
    expect(state.models[0]?.running).toHaveLength(1)
    expect(state.traffic?.windowSeconds).toBe(60)
  })
})
