import { describe, expect, it } from 'vitest'
import { PeerTable, compareStates } from '../../src/mesh/peer-table.ts'
import type { NodeState } from '../../src/mesh/types.ts'
import { fakeLocalState } from './helpers.ts'

function state(id: string, startedAt: number, seq: number, name = id): NodeState {
  return { ...fakeLocalState(name), id, startedAt, seq, peers: [] }
}

function table(): { t: PeerTable; clock: { now: number } } {
  const clock = { now: 1000 }
  return { t: new PeerTable({ freshMs: 300, now: () => clock.now }), clock }
}

describe('peer table', () => {
  it('orders states by startedAt, then seq', () => {
    expect(compareStates({ startedAt: 1, seq: 5 }, { startedAt: 1, seq: 4 })).toBeGreaterThan(0)
    expect(compareStates({ startedAt: 2, seq: 1 }, { startedAt: 1, seq: 99 })).toBeGreaterThan(0)
    expect(compareStates({ startedAt: 1, seq: 3 }, { startedAt: 1, seq: 3 })).toBe(0)
  })

  it('applies a newer seq and never lets an older one overwrite it', () => {
    const { t } = table()
    expect(t.apply(state('p', 10, 1, 'first'))).toBe('joined')
    expect(t.apply(state('p', 10, 3, 'third'))).toBe('updated')
    expect(t.apply(state('p', 10, 2, 'second'))).toBe('ignored')
    expect(t.get('p')!.state.name).toBe('third')
  })

  it('takes a restarted node whose seq starts over, because its startedAt is later', () => {
    const { t } = table()
    t.apply(state('p', 10, 500))
    expect(t.apply(state('p', 20, 1, 'reborn'))).toBe('updated')
    expect(t.get('p')!.state).toMatchObject({ startedAt: 20, seq: 1, name: 'reborn' })
    expect(t.apply(state('p', 10, 501))).toBe('ignored')
  })

  it('moves its version with every change a list would show, and only then', () => {
    const { t } = table()
    const v0 = t.version
    t.apply(state('p', 10, 2))
    const joined = t.version
    expect(joined).toBeGreaterThan(v0)
    t.list()
    t.get('p')
    expect(t.apply(state('p', 10, 1))).toBe('ignored')
    t.remove('nobody')
    expect(t.version).toBe(joined)
    for (const change of [() => t.apply(state('p', 10, 2)), () => t.apply(state('p', 10, 3)), () => t.remove('p'), () => t.clear()]) {
      const before = t.version
      change()
      expect(t.version).toBeGreaterThan(before)
    }
  })

  it('refreshes the age when the same version arrives again', () => {
    const { t, clock } = table()
    t.apply(state('p', 10, 1))
    clock.now += 250
    expect(t.apply(state('p', 10, 1))).toBe('refreshed')
    expect(t.get('p')!.ageMs).toBe(0)
  })

  it('marks a peer stale once its newest state is older than the fresh window', () => {
    const { t, clock } = table()
    t.apply(state('p', 10, 1))
    clock.now += 300
    expect(t.get('p')).toMatchObject({ ageMs: 300, fresh: true })
    clock.now += 1
    expect(t.get('p')).toMatchObject({ fresh: false })
    expect(t.silentFor(300)).toEqual(['p'])
    // An ignored (older) state does not make a stale peer look alive.
    t.apply(state('p', 10, 0))
    expect(t.get('p')!.fresh).toBe(false)
  })

  it('forgets a removed peer, and treats its next state as a new join', () => {
    const { t } = table()
    t.apply(state('p', 10, 7))
    expect(t.remove('p')).toBe(true)
    expect(t.list()).toEqual([])
    expect(t.remove('p')).toBe(false)
    expect(t.apply(state('p', 10, 1))).toBe('joined')
  })
})
