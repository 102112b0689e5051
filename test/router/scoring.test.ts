import { describe, expect, it } from 'vitest'
import { rank, score, type ScoreInput } from '../../src/router/index.ts'
import type { ModelState } from '../../src/mesh/types.ts'
import { coldModel } from './fixtures.ts'

const model = (over: Partial<ModelState> = {}): ModelState => coldModel('m:default', over)

function input(m: ModelState, over: Partial<ScoreInput> = {}): ScoreInput {
  return { nodeId: 'n', local: false, model: m, pending: 0, freeMemoryMb: 1000, ...over }
}

const loadedFree = model({ instances: 1, readyInstances: 1, slotsTotal: 2, slotsBusy: 1 })
const loadedBusy = model({ instances: 1, readyInstances: 1, slotsTotal: 2, slotsBusy: 2, queueLength: 1 })

describe('scoring', () => {
  it('ranks loaded-with-a-free-slot, then queued, then cold-fits, then needs-eviction', () => {
    expect(score(input(loadedFree))?.tier).toBe(0)
    expect(score(input(loadedBusy))?.tier).toBe(1)
    expect(score(input(model()))?.tier).toBe(2)
    expect(score(input(model({ canFitNow: false })))?.tier).toBe(3)
  })

  it('leaves out a node where the model cannot fit even after eviction', () => {
    expect(score(input(model({ canFitNow: false, canFitAfterEviction: false })))).toBeNull()
  })

  it('leaves out a loaded node whose queue is full and which cannot grow', () => {
    const full = model({ instances: 1, readyInstances: 1, slotsTotal: 1, slotsBusy: 1, queueLength: 8, maxQueueSize: 8 })
    expect(score(input(full))).toBeNull()
  })

  it('counts requests sent since the last state as busy slots', () => {
    const m = model({ instances: 1, readyInstances: 1, slotsTotal: 2, slotsBusy: 0 })
    expect(score(input(m, { pending: 1 }))?.tier).toBe(0)
    expect(score(input(m, { pending: 2 }))?.tier).toBe(1)
  })

  it('prefers the shorter queue, and among cold nodes the one with more free memory', () => {
    const short = score(input(loadedBusy, { nodeId: 'short' }))
    const long = score(input(model({ ...loadedBusy, queueLength: 5 }), { nodeId: 'long' }))
    expect(rank([long!, short!]).map((c) => c.nodeId)).toEqual(['short', 'long'])
    const roomy = score(input(model(), { nodeId: 'roomy', freeMemoryMb: 9000 }))
    const tight = score(input(model(), { nodeId: 'tight', freeMemoryMb: 100 }))
    expect(rank([tight!, roomy!]).map((c) => c.nodeId)).toEqual(['roomy', 'tight'])
  })

  it('starts a cold model on a GPU node before a CPU node, whatever the RAM', () => {
    const gpu = score(input(model(), { nodeId: 'gpu', freeMemoryMb: 2000, gpu: true }))
    const cpu = score(input(model(), { nodeId: 'cpu', freeMemoryMb: 60000, gpu: false }))
    expect(rank([cpu!, gpu!]).map((c) => c.nodeId)).toEqual(['gpu', 'cpu'])
  })

  it('prefers the faster node among free slots once rates are learned', () => {
    const slow = score(input(model({ ...loadedFree, tokensPerSecond: 10 }), { nodeId: 'slow', local: true }))
    const fast = score(input(model({ ...loadedFree, tokensPerSecond: 200 }), { nodeId: 'fast' }))
    expect(rank([slow!, fast!]).map((c) => c.nodeId)).toEqual(['fast', 'slow'])
  })

  it('gives ties to the local node', () => {
    const remote = score(input(loadedFree, { nodeId: 'peer' }))
    const local = score(input(loadedFree, { nodeId: 'self', local: true }))
    expect(rank([remote!, local!])[0]?.nodeId).toBe('self')
  })
})
