/**
 * Memory promised to admitted instances that the device does not show yet. Between the
 * admission decision and the moment a loaded llama-server's usage appears in a sample, the
 * device's free figure overstates what is free: a second cold start planned in that window
 * would "fit" into memory the first is about to take. So an admitted instance holds
 * `max(requirement − measured, 0)` on top of what telemetry measures for it, until it is
 * ready and a sample taken after that has measured it (its usage has settled), or it is gone.
 */
import type { InstanceSnapshot } from '../instances/index.ts'
import type { HardwareSnapshot } from './hardware.ts'

/** What one admitted instance was admitted for. */
export interface Reservation {
  instanceId: string
  profileId: string
  /** GPUs it was placed on (VRAM spread evenly over them); empty: CPU only. */
  gpus: readonly number[]
  vramMb: number
  sysmemMb: number
}

/** A live reservation, measured against the latest sample. */
export interface Reserved {
  gpus: readonly number[]
  /** What the instance holds in all: measured plus reserved. */
  vramMb: number
  sysmemMb: number
  /** The part not yet in the device's figures. */
  reservedVramMb: number
  reservedSysmemMb: number
}

export interface ReservationsInit {
  /**
   * A ready instance whose VRAM the GPU never lists (nvidia-smi inside some containers
   * cannot see other pid namespaces) is taken as settled this long after it became ready,
   * when its usage is in the device's totals anyway. @default 6000
   */
  unlistedSettleMs?: number
}

export class Reservations {
  private readonly held = new Map<string, Reservation>()
  private readonly unlistedSettleMs: number

  constructor(init: ReservationsInit = {}) {
    this.unlistedSettleMs = init.unlistedSettleMs ?? 6_000
  }

  get size(): number {
    return this.held.size
  }

  /** Record what an admitted instance will take (replaces an earlier reservation for it). */
  reserve(r: Reservation): void {
    this.held.set(r.instanceId, { ...r, gpus: [...r.gpus] })
  }

  release(instanceId: string): void {
    this.held.delete(instanceId)
  }

  has(instanceId: string): boolean {
    return this.held.has(instanceId)
  }

  /**
   * The reservation of one instance against the latest sample, or undefined when it has
   * none (never had, settled, or gone: then it is dropped for good).
   */
  measure(inst: InstanceSnapshot | undefined, instanceId: string, snap: HardwareSnapshot): Reserved | undefined {
    const r = this.held.get(instanceId)
    if (r === undefined) return undefined
    if (inst === undefined || inst.state.status === 'exited' || this.settled(r, inst, snap)) {
      this.held.delete(instanceId)
      return undefined
    }
    const usage = inst.pid === undefined ? undefined : snap.processes.get(inst.pid)
    const vram = usage?.vramMb ?? 0
    const sys = usage?.rssMb ?? 0
    const reservedVramMb = Math.max(r.vramMb - vram, 0)
    const reservedSysmemMb = Math.max(r.sysmemMb - sys, 0)
    return { gpus: r.gpus, vramMb: vram + reservedVramMb, sysmemMb: sys + reservedSysmemMb, reservedVramMb, reservedSysmemMb }
  }

  /** Drop reservations of instances no longer among `live`. */
  prune(live: readonly InstanceSnapshot[]): void {
    const ids = new Set(live.filter((i) => i.state.status !== 'exited').map((i) => i.id))
    for (const id of this.held.keys()) if (!ids.has(id)) this.held.delete(id)
  }

  /** Ready, and a sample taken since has measured it: from now on the device's figures include it. */
  private settled(r: Reservation, inst: InstanceSnapshot, snap: HardwareSnapshot): boolean {
    if (inst.state.status !== 'ready' || inst.pid === undefined) return false
    const readySince = inst.state.since
    if ((snap.startedAt ?? snap.sampledAt) <= readySince) return false
    const usage = snap.processes.get(inst.pid)
    if (usage === undefined) return false
    const needsVram = r.vramMb > 0 && r.gpus.length > 0 && snap.gpuTelemetry
    return !needsVram || usage.vramMb !== null || snap.sampledAt - readySince >= this.unlistedSettleMs
  }
}
