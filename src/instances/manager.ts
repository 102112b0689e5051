/**
 * The llama-server supervisor. Keeps one pool per `model:profile` launch, hands out slot
 * leases, follows cookbook reloads, and owns the processes' lives: spawn, idle stop,
 * drain, shutdown, and reaping what a previous daemon left behind.
 */
import { EventEmitter, once } from 'node:events'
import { Agent, type Dispatcher } from 'undici'
import type { ProfileSpec } from '../config/types.ts'
import { HerdError } from '../errors/index.ts'
import type { InstanceDeps } from './instance.ts'
import { untilAborted } from './lease.ts'
import type { LogRing } from './log-ring.ts'
import { PidFile, reapLeftovers } from './pidfile.ts'
import { PortAllocator } from './ports.ts'
import { ProfilePool, type PoolHost } from './pool.ts'
import { PoolRegistry } from './registry.ts'
import { Ewma } from './rate.ts'
import type { InstanceCounters, InstanceEventMap, InstanceLogs, InstanceManagerComponents, InstanceManagerInit, ManagerStatus } from './options.ts'
import { resolveInit } from './options.ts'
import type { AcquireOptions, InstanceEvents, InstanceSnapshot, Lease, ProfileLoad } from './types.ts'

/** Logs of this many exited instances stay readable (why did it crash?). */
const KEPT_EXITED_LOGS = 16

export class InstanceManager extends EventEmitter<InstanceEventMap> {
  status: ManagerStatus = 'stopped'
  private readonly components: InstanceManagerComponents
  private readonly init: ReturnType<typeof resolveInit>
  private readonly pools: PoolRegistry
  private readonly rates = new Map<string, Ewma>()
  private readonly exitedLogs: { instanceId: string; profileId: string; log: LogRing }[] = []
  private readonly stats: InstanceCounters = { spawns: 0, spawnFailures: 0, unexpectedExits: 0, idleStops: 0 }
  private readonly pidFile: PidFile
  private readonly ports: PortAllocator
  private ctl = new AbortController()
  private dispatcher: Dispatcher | undefined
  private stopping: Promise<void> | undefined
  private seq = 0
  private readonly host: PoolHost

  constructor(components: InstanceManagerComponents, init: InstanceManagerInit = {}) {
    super()
    this.components = components
    this.init = resolveInit(init)
    this.ports = new PortAllocator(this.init.host, this.init.portBase)
    this.pidFile = new PidFile(components.runtimeDir, components.logger)
    this.host = this.makeHost()
    this.pools = new PoolRegistry((spec) => new ProfilePool(spec, this.host))
  }

  /** Reap leftovers of a previous daemon, then take work. Idempotent. */
  async start(): Promise<void> {
    if (this.status !== 'stopped') return
    this.ctl = new AbortController()
    this.dispatcher = this.components.dispatcher ?? new Agent({ connections: 8, keepAliveTimeout: 10_000 })
    try {
      await reapLeftovers(this.components.runtimeDir, { logger: this.components.logger, signal: this.ctl.signal })
    } catch (err: unknown) {
      if (this.components.dispatcher === undefined) await this.dispatcher.close()
      this.dispatcher = undefined
      throw err
    }
    this.status = 'started'
  }

  /** Shutdown: refuse waiters, SIGTERM every child (SIGKILL after the grace), wait, remove the pid file. */
  stop(): Promise<void> {
    if (this.status === 'stopped') return Promise.resolve()
    this.stopping ??= this.shutdown().finally(() => (this.stopping = undefined))
    return this.stopping
  }

  /** Refuse new work, give in-flight leases until `graceMs` to finish, then stop. */
  async drain(o: { graceMs: number; signal: AbortSignal }): Promise<void> {
    if (this.status === 'started') {
      this.status = 'draining'
      for (const pool of this.pools.all()) pool.rejectWaiters(this.refusal())
      const give = AbortSignal.any([o.signal, AbortSignal.timeout(o.graceMs)])
      try {
        while (this.busy() > 0) await once(this, 'load:changed', { signal: give })
      } catch {
        // Grace over (or the caller gave up): what is still running is stopped below.
      }
    }
    await this.stop()
  }

  /** Hot reload: new profiles become available, removed ones drain, changed args drain into fresh instances. */
  setProfiles(profiles: readonly ProfileSpec[]): void {
    this.pools.setProfiles(profiles)
  }

  /** A slot on a ready instance of `profile`: now, after a spawn, or after a wait in line. */
  async acquire(profile: ProfileSpec, o: AcquireOptions): Promise<Lease> {
    o.signal.throwIfAborted()
    if (this.status !== 'started') throw this.refusal()
    return this.pools.poolFor(profile).acquire(o)
  }

  /** Make sure one instance of `profile` is ready; resolves when it is. */
  async prewarm(profile: ProfileSpec, o: { signal: AbortSignal }): Promise<void> {
    o.signal.throwIfAborted()
    if (this.status !== 'started') throw this.refusal()
    await untilAborted(this.pools.poolFor(profile).prewarm(o.signal), o.signal)
  }

  /** Stop idle instances of one profile (or all) now; busy ones stop when their last lease returns. Returns how many. */
  async unload(profileId?: string, o: { signal?: AbortSignal } = {}): Promise<number> {
    let count = 0
    const stops: Promise<unknown>[] = []
    for (const pool of this.pools.all()) {
      if (profileId !== undefined && pool.spec.id !== profileId) continue
      const r = pool.unload()
      count += r.count
      stops.push(...r.stopped)
    }
    const all = Promise.all(stops)
    await (o.signal === undefined ? all : untilAborted(all, o.signal))
    return count
  }

  /** Stop the least recently used idle instance (for a spawn that needs its memory). Returns its id. */
  async evictIdle(o: { signal: AbortSignal; exceptProfileId?: string; instanceIds?: readonly string[] }): Promise<string | undefined> {
    const candidates = [...this.pools.all()]
      .filter((p) => p.spec.id !== o.exceptProfileId)
      .flatMap((p) => p.evictable().map((inst) => ({ p, inst })))
      // The capacity planner names the instances whose memory helps; only those go.
      .filter(({ inst }) => o.instanceIds === undefined || o.instanceIds.includes(inst.id))
    const lru = candidates.sort((a, b) => a.inst.lastUsedMono - b.inst.lastUsedMono)[0]
    if (lru === undefined) return undefined
    await untilAborted(lru.p.stopInstance(lru.inst), o.signal)
    return lru.inst.id
  }

  snapshot(): InstanceSnapshot[] {
    return [...this.pools.all()].flatMap((p) => [...p.instances].map((i) => i.snapshot()))
  }

  /** Load per profile, including cookbook profiles with no instance. */
  load(): ProfileLoad[] {
    return this.pools
      .ids()
      .map(
        (id) =>
          this.pools.activePool(id)?.load() ?? {
            profileId: id,
            instances: 0,
            readyInstances: 0,
            slotsTotal: 0,
            slotsBusy: 0,
            queueLength: 0,
            tokensPerSecond: this.rates.get(id)?.value ?? null,
          },
      )
  }

  /** Recent output of one instance, or of all (live ones, then recently exited ones). */
  logs(instanceId?: string): InstanceLogs[] {
    const live = [...this.pools.all()].flatMap((p) => [...p.instances].map((i) => ({ instanceId: i.id, profileId: i.profile.id, log: i.log })))
    return [...live, ...this.exitedLogs]
      .filter((e) => instanceId === undefined || e.instanceId === instanceId)
      .map((e) => ({ instanceId: e.instanceId, profileId: e.profileId, lines: e.log.lines() }))
  }

  counters(): Readonly<InstanceCounters> {
    return { ...this.stats }
  }

  private async shutdown(): Promise<void> {
    this.status = 'stopping'
    const err = this.refusal()
    this.ctl.abort(err)
    await Promise.all([...this.pools.all()].map((p) => p.stopAll(err)))
    await this.pidFile.remove()
    if (this.components.dispatcher === undefined) await this.dispatcher?.close()
    this.dispatcher = undefined
    this.pools.clear()
    this.status = 'stopped'
  }

  private busy(): number {
    let n = 0
    for (const p of this.pools.all()) n += p.busy()
    return n
  }

  private refusal(): HerdError {
    return new HerdError('draining', this.status === 'stopped' ? 'the instance manager is not running' : 'this node is shutting down')
  }

  private deps(): InstanceDeps {
    const { components: c, init } = this
    if (this.dispatcher === undefined) throw new HerdError('internal', 'the instance manager is not running')
    return {
      logger: c.logger,
      dispatcher: this.dispatcher,
      host: init.host,
      setpriv: init.setpriv,
      healthIntervalMs: init.healthIntervalMs,
      killGraceMs: init.killGraceMs,
      logLines: init.logLines,
      portAttempts: init.portAttempts,
      ports: this.ports,
      signal: this.ctl.signal,
      onProcessStarted: (info) => {
        this.childrenChanged()
        c.onProcessStarted?.(info)
      },
      onProcessExited: (info) => {
        this.childrenChanged()
        c.onProcessExited?.(info)
      },
    }
  }

  private childrenChanged(): void {
    this.pidFile.schedule(() => [...this.pools.all()].flatMap((p) => [...p.instances].flatMap((i) => i.pidRecord() ?? [])))
  }

  private makeHost(): PoolHost {
    return {
      logger: this.components.logger,
      defaultSlots: this.init.defaultSlots,
      fit: this.components.fit,
      deps: () => this.deps(),
      binary: async () => this.components.binary(),
      accepting: () => this.status === 'started',
      nextId: (profileId) => `${profileId}#${++this.seq}`,
      rate: (profileId) => {
        const r = this.rates.get(profileId) ?? new Ewma()
        this.rates.set(profileId, r)
        return r
      },
      emit: (event, payload) => this.emitEvent(event, payload),
      count: (c) => void this.stats[c]++,
      childrenChanged: () => this.childrenChanged(),
      instanceGone: (inst) => {
        this.exitedLogs.push({ instanceId: inst.id, profileId: inst.profile.id, log: inst.log })
        if (this.exitedLogs.length > KEPT_EXITED_LOGS) this.exitedLogs.shift()
      },
      poolEmpty: (pool) => this.pools.forget(pool),
    }
  }

  private emitEvent<K extends keyof InstanceEvents>(event: K, payload: InstanceEvents[K]): void {
    try {
      // Node's EventEmitter types cannot follow a generic key; the map guarantees the payload's shape.
      ;(this.emit as (e: K, p: InstanceEvents[K]) => boolean)(event, payload)
    } catch (err: unknown) {
      // A throwing listener must not break the supervisor's bookkeeping.
      this.components.logger.warn({ err, event }, 'instance event listener threw')
    }
  }
}
