/**
 * One `model:profile` on one simulated node: its instances and FIFO, with the rules of
 * src/instances/pool.ts (a free slot first, else wait; spawn only for demand that starting
 * instances do not cover; queue cap counts slots still to come; idle stop after a timeout;
 * a failed start refuses the waiters no other start will serve).
 */
import type { ProfileSpec } from '../../src/config/types.ts'
import type { ProfileLoad } from '../../src/instances/types.ts'
import { parallelFromArgs } from '../../src/instances/capacity.ts'
import { Ewma } from '../../src/instances/rate.ts'
import type { Clock, Timer } from './placement-clock.ts'
import type { SimRequest } from './placement-scenario.ts'

export type FailCode = 'queue_full' | 'queue_timeout' | 'no_capacity' | 'no_route'

export interface SimInstance {
  readonly id: string
  readonly pool: SimPool
  /** admitting: being planned, holds nothing yet; starting: placed and loading. */
  status: 'admitting' | 'starting' | 'ready'
  gpus: number[]
  /** VRAM actually taken on each GPU (by tensor split), MiB. */
  gpuUse: Map<number, number>
  vramMb: number
  sysmemMb: number
  busy: number
  lastUsedAt: number
  idle: Timer | undefined
}

/** How one attempt at one node ended. */
export type Outcome = { ok: true; doneAt: number } | { ok: false; code: FailCode }

interface Waiter {
  readonly req: SimRequest
  readonly settle: (o: Outcome) => void
  expired: boolean
  timer: Timer
}

/** What a pool needs from its node. */
export interface PoolHost {
  readonly clock: Clock
  /** Plan and place `inst` (asynchronously); calls `pool.started` or `pool.spawnFailed`. */
  admit(inst: SimInstance): void
  stopped(inst: SimInstance, why: 'idle' | 'evicted'): void
  tokensPerSecond(spec: ProfileSpec): number
  coldStartMs(spec: ProfileSpec): number
  changed(): void
}

export class SimPool {
  readonly spec: ProfileSpec
  readonly instances: SimInstance[] = []
  readonly rate = new Ewma()
  private readonly queue: Waiter[] = []
  private readonly host: PoolHost
  private nextId = 0

  constructor(spec: ProfileSpec, host: PoolHost) {
    this.spec = spec
    this.host = host
  }

  private get slots(): number {
    return parallelFromArgs(this.spec.args) ?? 1
  }

  acquire(req: SimRequest, settle: (o: Outcome) => void): void {
    if (this.queue.length === 0) {
      const inst = this.pick()
      if (inst) return this.lease(inst, req, settle)
    }
    if (this.queue.length - this.pendingCapacity() >= this.spec.maxQueueSize) return settle({ ok: false, code: 'queue_full' })
    const w: Waiter = { req, settle, expired: false, timer: this.host.clock.after(this.spec.maxWaitInQueueMs, () => this.timedOut(w)) }
    this.queue.push(w)
    this.pump()
  }

  load(): ProfileLoad {
    const ready = this.instances.filter((i) => i.status === 'ready')
    return {
      profileId: this.spec.id,
      instances: this.instances.length,
      readyInstances: ready.length,
      slotsTotal: ready.length * this.slots,
      slotsBusy: ready.reduce((a, i) => a + i.busy, 0),
      queueLength: this.queue.length,
      tokensPerSecond: this.rate.value,
    }
  }

  /** The node placed it: it loads for a cold start, then takes waiters. */
  started(inst: SimInstance): void {
    inst.status = 'starting'
    this.host.clock.after(this.host.coldStartMs(this.spec), () => {
      inst.status = 'ready'
      inst.lastUsedAt = this.host.clock.now
      this.pump()
      if (inst.busy === 0) this.armIdle(inst)
    })
    this.host.changed()
  }

  spawnFailed(inst: SimInstance, code: FailCode): void {
    this.remove(inst)
    for (const w of this.queue.splice(this.startingCapacity())) {
      w.timer.cancelled = true
      w.settle({ ok: false, code })
    }
    this.pump()
  }

  /** Evicted by the node for another profile's cold start (only ever an idle one). */
  evict(inst: SimInstance): void {
    this.remove(inst)
    this.host.stopped(inst, 'evicted')
  }

  private remove(inst: SimInstance): void {
    if (inst.idle) inst.idle.cancelled = true
    const i = this.instances.indexOf(inst)
    if (i >= 0) this.instances.splice(i, 1)
    this.host.changed()
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const inst = this.pick()
      if (!inst) break
      const w = this.queue.shift() as Waiter
      w.timer.cancelled = true
      this.lease(inst, w.req, w.settle)
    }
    let pending = this.startingCapacity()
    while (this.queue.length > pending && this.instances.length < this.spec.maxInstances) {
      const inst: SimInstance = {
        id: `${this.spec.model}-${this.nextId++}`,
        pool: this,
        status: 'admitting',
        gpus: [],
        gpuUse: new Map(),
        vramMb: 0,
        sysmemMb: 0,
        busy: 0,
        lastUsedAt: this.host.clock.now,
        idle: undefined,
      }
      this.instances.push(inst)
      this.host.admit(inst)
      pending += this.slots
    }
    for (const w of this.queue.filter((x) => x.expired)) {
      w.expired = false
      this.timedOut(w)
    }
    this.host.changed()
  }

  private lease(inst: SimInstance, req: SimRequest, settle: (o: Outcome) => void): void {
    if (inst.idle) inst.idle.cancelled = true
    inst.busy++
    inst.lastUsedAt = this.host.clock.now
    const tps = this.host.tokensPerSecond(this.spec)
    const ms = (req.tokens / tps) * 1000
    this.host.changed()
    this.host.clock.after(ms, () => {
      inst.busy--
      inst.lastUsedAt = this.host.clock.now
      this.rate.add(tps)
      settle({ ok: true, doneAt: this.host.clock.now })
      this.pump()
      if (inst.busy === 0) this.armIdle(inst)
    })
  }

  private armIdle(inst: SimInstance): void {
    if (inst.idle) inst.idle.cancelled = true
    inst.idle = this.host.clock.after(this.spec.idleTimeoutMs, () => {
      if (inst.busy > 0 || inst.status !== 'ready' || !this.instances.includes(inst)) return
      this.remove(inst)
      this.host.stopped(inst, 'idle')
    })
  }

  /** Past max_wait_in_queue_ms: out with queue_timeout, unless a starting instance owes it a slot. */
  private timedOut(w: Waiter): void {
    const at = this.queue.indexOf(w)
    if (at < 0) return
    if (at < this.startingCapacity()) {
      w.expired = true
      return
    }
    this.queue.splice(at, 1)
    w.settle({ ok: false, code: 'queue_timeout' })
    this.host.changed()
  }

  private pick(): SimInstance | undefined {
    let best: SimInstance | undefined
    for (const i of this.instances) {
      if (i.status === 'ready' && i.busy < this.slots && (!best || this.slots - i.busy > this.slots - best.busy)) best = i
    }
    return best
  }

  private startingCapacity(): number {
    return this.instances.filter((i) => i.status !== 'ready').length * this.slots
  }

  private pendingCapacity(): number {
    return this.startingCapacity() + Math.max(0, this.spec.maxInstances - this.instances.length) * this.slots
  }
}
