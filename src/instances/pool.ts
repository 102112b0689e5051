/**
 * The instances and the waiting line of one `model:profile` launch (one launchHash).
 * Decides who gets which slot, when to spawn, when to stop. A request first takes a free
 * slot; else it waits in FIFO order; a spawn starts only when the waiters outnumber the
 * slots that starting instances will bring, so concurrent cold requests share one spawn.
 */
import type { Logger } from 'pino'
import type { ProfileSpec } from '../config/types.ts'
import { HerdError, isHerdError } from '../errors/index.ts'
import { expectedSlots, loadOf, retryAfterSeconds } from './capacity.ts'
import { IdleTimers } from './idle.ts'
import { Instance, type InstanceDeps } from './instance.ts'
import { createLease, rateOf, untilAborted } from './lease.ts'
import { prepareSpawn, type Fit, type SpawnPlacement } from './prepare.ts'
import { Ewma } from './rate.ts'
import { WaitQueue } from './queue.ts'
import type { AcquireOptions, InstanceEvents, Lease, ProfileLoad } from './types.ts'

/** What a pool needs from its manager. */
export interface PoolHost {
  readonly logger: Logger
  readonly defaultSlots: number
  readonly fit: Fit | undefined
  deps(): InstanceDeps
  binary(): Promise<string>
  /** The manager takes new work (started, not draining). */
  accepting(): boolean
  nextId(profileId: string): string
  /** Learned tokens/s per profile id (outlives reloads). */
  rate(profileId: string): Ewma
  emit<K extends keyof InstanceEvents>(event: K, payload: InstanceEvents[K]): void
  count(counter: 'spawns' | 'spawnFailures' | 'unexpectedExits' | 'idleStops'): void
  /** An instance started, became ready, or exited: the pid file changes. */
  childrenChanged(): void
  instanceGone(inst: Instance): void
  /** A retired pool has no instances left. */
  poolEmpty(pool: ProfilePool): void
}

export class ProfilePool {
  spec: ProfileSpec
  readonly instances = new Set<Instance>()
  readonly queue: WaitQueue
  /** Removed from the cookbook or superseded by new args: no new work, stop when idle. */
  retired = false
  private readonly host: PoolHost
  private readonly starts = new Map<Instance, Promise<void>>()
  private readonly idle: IdleTimers
  private learnedSlots: number | undefined
  private readonly holdMs = new Ewma()

  constructor(spec: ProfileSpec, host: PoolHost) {
    this.spec = spec
    this.host = host
    this.queue = new WaitQueue({
      owed: () => this.startingCapacity(),
      timeoutError: (at) =>
        new HerdError('queue_timeout', `waited ${this.spec.maxWaitInQueueMs} ms in the queue for '${this.spec.id}'`, {
          retryAfterSeconds: this.retryAfter(at),
        }),
      changed: () => this.emitLoad(),
    })
    this.idle = new IdleTimers((inst) => {
      host.count('idleStops')
      host.logger.info({ instance: inst.id }, 'stopping idle llama-server')
      void this.stopInstance(inst)
    })
  }

  acquire(o: AcquireOptions): Promise<Lease> {
    if (this.queue.length === 0) {
      const inst = this.pick()
      if (inst !== undefined) {
        const lease = this.lease(inst)
        this.emitLoad()
        return Promise.resolve(lease)
      }
    }
    const ahead = this.queue.length - this.pendingCapacity()
    if (ahead >= this.spec.maxQueueSize) {
      throw new HerdError('queue_full', `the queue for '${this.spec.id}' is full (${this.spec.maxQueueSize} waiting)`, {
        retryAfterSeconds: this.retryAfter(ahead),
      })
    }
    // A mesh-wide deadline (set by the node the client asked) cuts the local bound short.
    const timeoutMs = Math.max(0, Math.min(this.spec.maxWaitInQueueMs, (o.deadline ?? Infinity) - Date.now()))
    const leased = this.queue.add({ signal: o.signal, requestId: o.requestId, timeoutMs, onWaiting: o.onWaiting })
    this.pump()
    return leased
  }

  /** Ensure one instance is ready (spawning one if none is starting). */
  async prewarm(signal: AbortSignal): Promise<void> {
    const live = this.live()
    if (live.some((i) => i.state.status === 'ready')) return
    const inst = live.find((i) => i.state.status === 'starting') ?? this.spawn()
    await untilAborted(this.starts.get(inst) ?? Promise.resolve(), signal)
  }

  /** Stop idle ready instances now and drain busy ones. Returns the idle ones' stops. */
  unload(): { count: number; stopped: Promise<unknown>[] } {
    const stopped: Promise<unknown>[] = []
    let count = 0
    for (const inst of this.instances) {
      if (inst.state.status !== 'ready' || inst.draining) continue
      count++
      inst.draining = true
      if (inst.busy === 0) stopped.push(this.stopInstance(inst))
    }
    this.pump()
    return { count, stopped }
  }

  /** No new work: waiters move to `successor` (same profile, new args) or are refused. */
  retire(successor: ProfilePool | undefined): void {
    this.retired = true
    if (successor !== undefined) {
      this.queue.moveTo(successor.queue)
      successor.pump()
    } else {
      this.queue.rejectFrom(0, new HerdError('draining', `'${this.spec.id}' was removed from the cookbook`))
    }
    for (const inst of this.instances) {
      inst.draining = true
      if (inst.state.status === 'ready' && inst.busy === 0) void this.stopInstance(inst)
    }
    if (this.instances.size === 0) this.host.poolEmpty(this)
    this.emitLoad()
  }

  /** Daemon shutdown: refuse the waiters, stop every instance, wait for them. */
  async stopAll(err: HerdError): Promise<void> {
    this.queue.rejectFrom(0, err)
    this.idle.clear()
    await Promise.all([...this.instances].map((inst) => inst.stop()))
  }

  rejectWaiters(err: HerdError): void {
    this.queue.rejectFrom(0, err)
    this.emitLoad()
  }

  /** Ready, idle, not draining: what LRU eviction may take. */
  evictable(): Instance[] {
    return [...this.instances].filter((i) => i.state.status === 'ready' && i.busy === 0 && !i.draining)
  }

  stopInstance(inst: Instance): Promise<unknown> {
    this.idle.cancel(inst)
    const done = inst.stop()
    this.emitLoad()
    return done
  }

  busy(): number {
    let n = 0
    for (const i of this.instances) n += i.busy
    return n
  }

  load(): ProfileLoad {
    return loadOf(this.spec.id, this.live(), this.queue.length, this.host.rate(this.spec.id).value)
  }

  /** Serve waiters from free slots in order, then spawn for demand nothing starting covers. */
  pump(): void {
    while (this.queue.length > 0) {
      const inst = this.pick()
      if (inst === undefined) break
      this.queue.shift()?.resolve(this.lease(inst))
    }
    if (!this.retired && this.host.accepting()) {
      let pending = this.startingCapacity()
      while (this.queue.length > pending && this.live().length < this.spec.maxInstances) {
        this.spawn()
        pending += this.slotsPerInstance()
      }
    }
    this.queue.sweepExpired()
    this.emitLoad()
  }

  private spawn(): Instance {
    const inst = new Instance(this.host.nextId(this.spec.id), this.spec, this.host.deps())
    inst.onExit = (i) => this.exited(i)
    this.instances.add(inst)
    this.host.count('spawns')
    const t0 = performance.now()
    // Admission waits for room no longer than someone waits for this instance (prewarm: its own bound).
    const deadline = this.queue.latestExpiry()
    const started = inst.start(async (signal) => {
      const prepared = await prepareSpawn(this.spec, {
        signal,
        instanceId: inst.id,
        ...(deadline === undefined ? {} : { deadline }),
        fit: this.host.fit,
        binary: () => this.host.binary(),
      })
      this.host.logger.info({ instance: inst.id, model: this.spec.id, ...placementFields(prepared.placement) }, 'starting llama-server')
      return prepared
    })
    this.starts.set(inst, started)
    started.then(
      () => this.ready(inst, Math.round(performance.now() - t0)),
      (err: unknown) => this.spawnFailed(inst, err),
    )
    return inst
  }

  private ready(inst: Instance, spawnMs: number): void {
    this.starts.delete(inst)
    if (inst.state.status === 'ready') this.learnedSlots = inst.state.slots
    this.host.logger.info({ instance: inst.id, model: this.spec.id, spawnMs, slots: this.learnedSlots }, 'llama-server ready')
    this.host.emit('instance:ready', { instanceId: inst.id, profileId: this.spec.id, spawnMs })
    this.host.childrenChanged()
    if (inst.draining) {
      void this.stopInstance(inst)
      return
    }
    this.pump()
    if (inst.busy === 0) this.idle.arm(inst, this.spec.idleTimeoutMs)
  }

  /** The waiters no other starting instance will serve get this spawn's error. */
  private spawnFailed(inst: Instance, err: unknown): void {
    this.starts.delete(inst)
    if (inst.expectedExit) this.host.logger.debug({ instance: inst.id }, 'llama-server stopped while starting')
    else if (isHerdError(err) && err.code === 'no_capacity') {
      // Admission said no before any process ran: an expected refusal, one line, no stack.
      this.host.logger.warn({ instance: inst.id, reason: err.message }, 'llama-server not started: no room')
    } else if (isHerdError(err) && err.code === 'model_file_missing') {
      // Reported when the file went missing (config/model-files.ts); each request for it says so again at debug.
      this.host.logger.debug({ instance: inst.id, reason: err.message }, 'llama-server not started: model file missing')
    } else {
      this.host.count('spawnFailures')
      this.host.logger.warn({ err, instance: inst.id }, 'llama-server failed to start')
    }
    this.queue.rejectFrom(this.startingCapacity(), err)
    this.pump()
  }

  private exited(inst: Instance): void {
    this.instances.delete(inst)
    this.idle.cancel(inst)
    this.host.instanceGone(inst)
    if (inst.everReady) {
      const { code, signal } = inst.state.status === 'exited' ? inst.state : { code: null, signal: null }
      if (!inst.expectedExit) {
        this.host.count('unexpectedExits')
        this.host.logger.warn({ instance: inst.id, code, signal, log: inst.log.tail(10) }, 'llama-server exited unexpectedly')
      }
      this.host.emit('instance:exited', { instanceId: inst.id, profileId: this.spec.id, code, signal, expected: inst.expectedExit })
      // Its waiters-to-be need a fresh instance; a failed start is pumped by spawnFailed instead.
      this.pump()
    }
    if (this.retired && this.instances.size === 0) this.host.poolEmpty(this)
  }

  private lease(inst: Instance): Lease {
    this.idle.cancel(inst)
    return createLease(inst, (stats, heldMs) => {
      this.holdMs.add(heldMs)
      const rate = rateOf(stats)
      if (rate !== undefined) this.host.rate(this.spec.id).add(rate)
      this.released(inst)
    })
  }

  private released(inst: Instance): void {
    if (inst.state.status === 'ready' && inst.draining && inst.busy === 0) {
      void this.stopInstance(inst)
      return
    }
    this.pump()
    if (inst.state.status === 'ready' && inst.busy === 0) this.idle.arm(inst, this.spec.idleTimeoutMs)
  }

  /** The free slot on the least busy instance spreads requests over processes. */
  private pick(): Instance | undefined {
    let best: Instance | undefined
    for (const i of this.instances) if (i.free > 0 && (best === undefined || i.free > best.free)) best = i
    return best
  }

  /** Starting or ready, and not on its way out: what counts against max_instances. */
  private live(): Instance[] {
    return [...this.instances].filter((i) => !i.draining && (i.state.status === 'starting' || i.state.status === 'ready'))
  }

  private slotsPerInstance(): number {
    return expectedSlots(this.spec, this.learnedSlots, this.host.defaultSlots)
  }

  private startingCapacity(): number {
    return this.live().filter((i) => i.state.status === 'starting').length * this.slotsPerInstance()
  }

  /** Slots that starting instances, and instances we may still spawn, will bring. */
  private pendingCapacity(): number {
    const spawnable = this.retired ? 0 : Math.max(0, this.spec.maxInstances - this.live().length)
    return this.startingCapacity() + spawnable * this.slotsPerInstance()
  }

  private retryAfter(ahead: number): number {
    const slots = this.load().slotsTotal
    return retryAfterSeconds({ ahead: Math.max(0, ahead), slots, holdMs: this.holdMs.value })
  }

  private emitLoad(): void {
    this.host.emit('load:changed', { profileId: this.spec.id })
  }
}

/** How the start line describes where a launch goes: GPUs or CPU, and the memory it was admitted for. */
function placementFields(p: SpawnPlacement): Record<string, unknown> {
  // Without a hardware admission (tests, or none wired) herd placed nothing.
  const placement = p.gpus === undefined ? 'unplaced' : p.gpus.length > 0 ? `gpu ${p.gpus.join(',')}` : 'cpu'
  return p.estimate === undefined ? { placement } : { placement, estimate_vram_mb: p.estimate.vramMb, estimate_sysmem_mb: p.estimate.sysmemMb }
}
