import { describe, expect, it } from 'vitest'
import { Reservations, type HardwareSnapshot, type Reservation } from '../../src/hardware/index.ts'
import type { InstanceSnapshot, InstanceStatus } from '../../src/instances/index.ts'

const reservation: Reservation = { instanceId: 'm#1', profileId: 'm:default', gpus: [0], vramMb: 3_000, sysmemMb: 600 }

function instance(state: InstanceStatus, pid: number | undefined = 42): InstanceSnapshot {
  return { id: 'm#1', profileId: 'm:default', pid, port: 1, state, busy: 0, lastUsedAt: 0, startedAt: 0, gpus: [0] }
}

function sample(at: number, usage?: { vramMb: number | null; rssMb: number }, o: { startedAt?: number; gpuTelemetry?: boolean } = {}): HardwareSnapshot {
  return {
    gpus: [{ index: 0, uuid: 'GPU-0', name: 'RTX', totalMb: 8_000, usedMb: 0, freeMb: 8_000 }],
    sysmem: { totalMb: 64_000, freeMb: 60_000 },
    processes: new Map(usage ? [[42, { ...usage, hwmMb: usage.rssMb }]] : []),
    gpuTelemetry: o.gpuTelemetry ?? true,
    sampledAt: at,
    startedAt: o.startedAt ?? at,
  }
}

const starting = instance({ status: 'starting', since: 100 })
const ready = instance({ status: 'ready', port: 1, slots: 1, nCtx: 512, since: 1_000 })

describe('Reservations', () => {
  it('holds the whole requirement before the process shows any use', () => {
    const r = new Reservations()
    r.reserve(reservation)
    expect(r.measure(instance({ status: 'starting', since: 100 }, undefined), 'm#1', sample(200))).toEqual({
      gpus: [0],
      vramMb: 3_000,
      sysmemMb: 600,
      reservedVramMb: 3_000,
      reservedSysmemMb: 600,
    })
  })

  it('holds requirement − measured while loading, never less than nothing', () => {
    const r = new Reservations()
    r.reserve(reservation)
    expect(r.measure(starting, 'm#1', sample(200, { vramMb: 1_000, rssMb: 200 }))).toMatchObject({
      vramMb: 3_000,
      reservedVramMb: 2_000,
      sysmemMb: 600,
      reservedSysmemMb: 400,
    })
    // Using more than it was admitted for: nothing reserved on top, what it uses is what it holds.
    expect(r.measure(starting, 'm#1', sample(300, { vramMb: 3_500, rssMb: 900 }))).toMatchObject({
      vramMb: 3_500,
      reservedVramMb: 0,
      sysmemMb: 900,
      reservedSysmemMb: 0,
    })
  })

  it('keeps holding a ready instance until a sample begun after it was ready has measured it, then lets go for good', () => {
    const r = new Reservations()
    r.reserve(reservation)
    // This sample's readings began before the instance was ready: they may predate its buffers.
    expect(r.measure(ready, 'm#1', sample(1_050, { vramMb: 200, rssMb: 100 }, { startedAt: 990 }))).toMatchObject({ reservedVramMb: 2_800 })
    expect(r.measure(ready, 'm#1', sample(1_100, { vramMb: 2_900, rssMb: 550 }))).toBeUndefined()
    expect(r.has('m#1')).toBe(false)
    expect(r.measure(ready, 'm#1', sample(1_200, { vramMb: 100, rssMb: 100 }))).toBeUndefined()
  })

  it('settles a ready instance whose VRAM the GPU never lists only after a while', () => {
    const r = new Reservations({ unlistedSettleMs: 500 })
    r.reserve(reservation)
    expect(r.measure(ready, 'm#1', sample(1_100, { vramMb: null, rssMb: 550 }))).toMatchObject({ reservedVramMb: 3_000 })
    expect(r.measure(ready, 'm#1', sample(1_500, { vramMb: null, rssMb: 550 }))).toBeUndefined()
  })

  it('lets go when the instance exits or is gone', () => {
    const r = new Reservations()
    r.reserve(reservation)
    expect(r.measure(instance({ status: 'exited', code: 1, signal: null, since: 300 }), 'm#1', sample(400))).toBeUndefined()
    r.reserve(reservation)
    r.prune([])
    expect(r.size).toBe(0)
  })
})
