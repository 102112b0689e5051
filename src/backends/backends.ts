/**
 * The backends component: every external backend this node holds a credential for, from
 * the cookbook and from runtime registrations, as router targets. It keeps one Backend
 * per name running (probes, pool, limit, circuit), replaces one whose definition changed
 * (the old one finishes what it has in flight), and answers the admin routes.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { MAX_BACKENDS, backendNames, type BackendSpec } from '../config/index.ts'
import { HerdError } from '../errors/index.ts'
import type { BackendModelState, BackendState } from '../mesh/types.ts'
import { MAX_GOSSIP_BACKEND_MODELS } from '../mesh/state-schema.ts'
import { CircuitBreakers, type CircuitBreakerInit } from '../router/circuit-breaker.ts'
import type { RouteRequest, UpstreamResponse } from '../router/types.ts'
import { Backend } from './backend.ts'
import type { Converter } from './protocol.ts'
import { BackendRegistry, type Registered } from './registry.ts'
import { backendView, brokenView, type BackendView } from './view.ts'

export interface BackendsComponents {
  logger: Logger
  nodeName: string
  /** Whether a name is already a cookbook model's (name, alias or `model:profile`): a registration may not take it. */
  isModelName?: (name: string) => boolean
  convert?: Converter
}

export interface BackendsInit {
  /** HERD_HOME: runtime registrations live in `backends.json` there, their key files in `keys/`. */
  home: string
  /** Where `api_key_env` is read. Default: process.env. */
  env?: NodeJS.ProcessEnv
  circuit?: CircuitBreakerInit
}

export interface BackendsEvents {
  /** Health, load or models of a backend changed, or backends came or went. */
  'backends:changed': []
}

export class Backends extends EventEmitter<BackendsEvents> {
  readonly circuits: CircuitBreakers
  private readonly c: BackendsComponents
  private readonly registry: BackendRegistry
  private configured: readonly BackendSpec[] = []
  private readonly registered = new Map<string, Registered>()
  private broken: { name: string; error: string }[] = []
  private readonly live = new Map<string, Backend>()
  /** Model id or alias → its backend, rebuilt when models change. */
  private index = new Map<string, { backend: Backend; model: BackendModelState }>()
  private started = false
  private warnedCap = false

  constructor(components: BackendsComponents, init: BackendsInit) {
    super()
    this.c = components
    this.circuits = new CircuitBreakers(init.circuit)
    this.registry = new BackendRegistry({ home: init.home, ...(init.env === undefined ? {} : { env: init.env }) })
  }

  /** Loads the registrations, then runs every backend. */
  async start(): Promise<void> {
    if (this.started) return
    const { built, broken } = await this.registry.load()
    this.broken = broken
    for (const b of broken) this.c.logger.error({ backend: b.name, file: this.registry.path }, `registered backend not started: ${b.error}`)
    for (const r of built) this.registered.set(r.spec.name, r)
    this.started = true
    this.apply()
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    const all = [...this.live.values()]
    this.live.clear()
    this.reindex()
    await Promise.all(all.map((b) => b.stop()))
  }

  /** The cookbook's backends (at start and on every reload). */
  setConfigured(specs: readonly BackendSpec[]): void {
    this.configured = specs
    if (this.started) this.apply()
  }

  // --- router targets ---

  /** This node's backend state for a model id or alias, if a backend here serves it. */
  find(modelId: string): BackendState | undefined {
    return this.index.get(modelId)?.backend.state()
  }

  /** The bound on waiting for a backend model (its `max_wait_in_queue_ms`). */
  maxWaitMs(modelId: string): number | undefined {
    return this.index.get(modelId)?.backend.spec.maxWaitInQueueMs
  }

  serve(req: RouteRequest): Promise<UpstreamResponse> {
    const hit = this.index.get(req.profileId)
    if (hit === undefined) return Promise.reject(new HerdError('model_not_found', `model '${req.profileId}' is not served by this node`, { param: 'model' }))
    return hit.backend.serve(req, hit.model)
  }

  /** What this node gossips: every backend, its models capped in all so the state stays within what peers accept. */
  state(): BackendState[] {
    let room = MAX_GOSSIP_BACKEND_MODELS
    const out: BackendState[] = []
    for (const b of this.live.values()) {
      const s = b.state()
      if (s.models.length > room) {
        if (!this.warnedCap)
          this.c.logger.warn({ backend: b.name, cap: MAX_GOSSIP_BACKEND_MODELS }, 'more backend models than gossip carries; the rest are served here only')
        this.warnedCap = true
        s.models = s.models.slice(0, room)
      }
      room -= s.models.length
      out.push(s)
    }
    return out
  }

  // --- admin ---

  views(): BackendView[] {
    const running = (spec: BackendSpec): BackendState | undefined => {
      const b = this.live.get(spec.name)
      return b?.spec === spec ? b.state() : undefined
    }
    return [
      ...this.configured.map((s) => backendView(s, running(s))),
      ...[...this.registered.values()].map((r) => backendView(r.spec, running(r.spec))),
      ...this.broken.map((b) => brokenView(b.name, b.error)),
    ]
  }

  /** POST /admin/backends: validate, refuse clashes, persist, run. */
  async register(body: Record<string, unknown>): Promise<BackendView> {
    const r = await this.registry.prepare(body)
    const name = r.spec.name
    const inCookbook = this.configured.find((s) => s.name === name)
    if (inCookbook) throw new HerdError('backend_conflict', `backend '${name}' is defined in the cookbook (${inCookbook.source})`, { param: 'name' })
    if (this.registered.has(name) || this.broken.some((b) => b.name === name)) {
      throw new HerdError('backend_conflict', `backend '${name}' is already registered; DELETE /admin/backends/${name} first`, { param: 'name' })
    }
    if (this.configured.length + this.registered.size >= MAX_BACKENDS) throw new HerdError('invalid_request', `a node holds at most ${MAX_BACKENDS} backends`)
    for (const id of backendNames(r.spec)) {
      if (this.c.isModelName?.(id) === true || this.index.has(id))
        throw new HerdError('backend_conflict', `'${id}' is already a model's name on this node`, { param: 'models' })
    }
    await this.registry.add(r.file)
    this.registered.set(name, r)
    this.c.logger.info({ backend: name, protocol: r.spec.protocol, credential: r.spec.credential }, 'backend registered')
    this.apply()
    return backendView(r.spec, this.live.get(name)?.state())
  }

  /** DELETE /admin/backends/:name */
  async remove(name: string): Promise<void> {
    const inCookbook = this.configured.find((s) => s.name === name)
    const known = this.registered.has(name) || this.broken.some((b) => b.name === name)
    if (!known && inCookbook)
      throw new HerdError('backend_conflict', `backend '${name}' is defined in the cookbook (${inCookbook.source}); remove it there`, { param: 'name' })
    if (!known) throw new HerdError('not_found', `no backend '${name}' was registered at run time`)
    await this.registry.remove(name)
    this.registered.delete(name)
    this.broken = this.broken.filter((b) => b.name !== name)
    this.c.logger.info({ backend: name }, 'backend removed')
    this.apply()
  }

  /** Brings the running backends in line with the cookbook plus registrations. */
  private apply(): void {
    if (!this.started) return
    const desired = new Map<string, BackendSpec>()
    for (const spec of this.configured) desired.set(spec.name, spec)
    for (const { spec } of this.registered.values()) {
      if (desired.has(spec.name)) this.c.logger.warn({ backend: spec.name }, 'a cookbook backend has the name of a registered one; the cookbook one is used')
      else desired.set(spec.name, spec)
    }
    for (const [name, backend] of this.live) {
      const next = desired.get(name)
      if (next !== undefined && sameSpec(backend.spec, next)) continue
      this.live.delete(name)
      this.circuits.forget(name)
      void backend.stop().catch((err: unknown) => this.c.logger.warn({ err, backend: name }, 'backend did not stop cleanly'))
    }
    for (const [name, spec] of desired) {
      if (this.live.has(name)) continue
      const backend = new Backend(spec, {
        logger: this.c.logger,
        nodeName: this.c.nodeName,
        circuits: this.circuits,
        onChange: () => this.emit('backends:changed'),
        onModels: () => this.changed(),
        ...(this.c.convert === undefined ? {} : { convert: this.c.convert }),
      })
      this.live.set(name, backend)
      backend.start()
    }
    this.changed()
  }

  private changed(): void {
    this.reindex()
    this.emit('backends:changed')
  }

  private reindex(): void {
    const index = new Map<string, { backend: Backend; model: BackendModelState }>()
    for (const backend of this.live.values()) {
      for (const model of backend.models()) {
        for (const id of [model.id, ...model.names]) if (!index.has(id)) index.set(id, { backend, model })
      }
    }
    this.index = index
  }
}

/** Same definition and the same secrets (which print as [redacted], so JSON alone cannot tell). */
function sameSpec(a: BackendSpec, b: BackendSpec): boolean {
  if (JSON.stringify(a) !== JSON.stringify(b)) return false
  if ((a.apiKey === undefined) !== (b.apiKey === undefined) || (a.apiKey !== undefined && !a.apiKey.equals(b.apiKey))) return false
  return Object.entries(a.headers).every(([k, v]) => v.equals(b.headers[k]))
}
