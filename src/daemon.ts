/**
 * The composition root: the only place components are wired together. Builds them from
 * the config, starts them in order (stopping what started if a later one fails), and
 * stops them in reverse: drain HTTP and instances first, then the mesh, then children.
 */
import { readFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import { Agent } from 'undici'
import type { FastifyInstance } from 'fastify'
import { buildApp, clusterView, exposureWarning, forwardHandler, meshAdmin, meshEmbedder, Metrics, type ApiDeps } from './api/index.ts'
import { Backends, convertProtocols } from './backends/index.ts'
import { ResponseCache, responseCacheInit } from './cache/index.ts'
import { CookbookWatcher, loadConfig, loadCookbook, ModelFiles, readTls, splitHostPort, type Config, type Cookbook } from './config/index.ts'
import { HerdError } from './errors/index.ts'
import { InstanceManager } from './instances/index.ts'
import { clusterInventory, inventoryState, ModelInventory, nodeBudget, withDiscovered } from './inventory/index.ts'
import { admission, NodeResources } from './hardware/index.ts'
import { resolveLlamaServer } from './llama/index.ts'
import { createLogger } from './logging/index.ts'
import {
  Router,
  ModelCatalog,
  costMicros,
  localModel,
  localModels,
  localPrice,
  localState,
  runningInstances,
  type LocalStateSources,
  type RemoteTargets,
} from './router/index.ts'
import { createTracing, type Tracing } from './telemetry/index.ts'
import { Tenants } from './tenants/index.ts'
import { HERD_VERSION } from './version.ts'
import { createMesh, MESH_SECRET_MISSING, type Mesh, type NodeState } from './mesh/index.ts'

export interface DaemonOptions {
  /** `--config` */
  configFile?: string
  env?: NodeJS.ProcessEnv
  /** Default: pino to stdout at the config's log level. */
  logger?: Logger
}

export class Daemon {
  readonly config: Config
  readonly logger: Logger
  private readonly startedAt = Date.now()
  private draining = false
  private started = false
  /** The cookbook in force: the cookbook files' models and those found under model_dirs. */
  private cookbook: Cookbook
  /** The cookbook as its files define it (what the watcher loaded). */
  private fileCookbook: Cookbook
  private llamaVersion: string | null = null
  private fitParamsPath: string | null = null
  private readonly dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 256 })
  private readonly instances: InstanceManager
  private readonly watcher: CookbookWatcher
  private readonly modelFiles: ModelFiles
  private readonly inventory: ModelInventory
  private readonly resources: NodeResources
  private readonly catalog: ModelCatalog
  private readonly router: Router
  private readonly metrics: Metrics
  private readonly tenants: Tenants
  /** `cache.enabled`: answers to repeated deterministic requests. Its `cache:hit` events are for the usage ledger. */
  readonly cache: ResponseCache | undefined
  private readonly app: FastifyInstance
  private readonly admin: ApiDeps['admin']
  private readonly stateSources: LocalStateSources
  private readonly backends: Backends
  /** `telemetry.otlp_endpoint`: spans exported by OTLP/HTTP; else NO_TRACING (nothing made per request). */
  private readonly tracing: Tracing
  private mesh: Mesh | undefined
  private address: string | undefined

  static async create(options: DaemonOptions = {}): Promise<Daemon> {
    const config = await loadConfig({ ...(options.configFile === undefined ? {} : { file: options.configFile }), ...(options.env ? { env: options.env } : {}) })
    const logger = options.logger ?? createLogger({ level: config.log_level, format: config.log_format, node: config.node.name })
    const cookbook = await loadCookbook(config.cookbook, { logger, ...(options.env === undefined ? {} : { env: options.env }) })
    const tracing = await createTracing({ logger: logger.child({ component: 'telemetry' }) }, config.telemetry, {
      name: config.node.name,
      version: HERD_VERSION,
    })
    return new Daemon(config, logger, cookbook, await readTls(config), options.env, tracing)
  }

  private constructor(
    config: Config,
    logger: Logger,
    cookbook: Cookbook,
    tls: { cert: Buffer; key: Buffer } | undefined,
    env: NodeJS.ProcessEnv | undefined,
    tracing: Tracing,
  ) {
    this.config = config
    this.tracing = tracing
    this.logger = logger
    this.cookbook = cookbook
    this.fileCookbook = cookbook
    const name = config.node.name
    const envOption = env === undefined ? {} : { env }
    this.watcher = new CookbookWatcher({ path: config.cookbook, logger: logger.child({ component: 'cookbook' }), initial: cookbook, ...envOption })
    this.modelFiles = new ModelFiles({ logger: logger.child({ component: 'cookbook' }), profiles: () => this.cookbook.profiles.values() })
    this.backends = new Backends(
      {
        logger: logger.child({ component: 'backends' }),
        nodeName: name,
        // OpenAI clients reach anthropic backends and Anthropic clients openai ones; the API checks with the same converter.
        convert: convertProtocols,
        isModelName: (id) =>
          this.cookbook.profiles.has(id) ||
          this.cookbook.names.has(id) ||
          (this.cookbook.aliases?.has(id) ?? false) ||
          (this.cookbook.routes?.has(id) ?? false),
      },
      { home: config.home, ...envOption },
    )
    this.backends.setConfigured(cookbook.backends ?? [])
    this.resources = new NodeResources(
      {
        logger: logger.child({ component: 'hardware' }),
        instances: () => this.instances.snapshot(),
        fitParamsPath: () => this.fitParamsPath,
        onReplanned: () => this.mesh?.notifyChanged(),
      },
      config,
    )
    const hardware = this.resources.hardware
    this.inventory = new ModelInventory(
      {
        logger: logger.child({ component: 'inventory' }),
        budget: () => {
          const snap = hardware.snapshot()
          const limits = { maxVramMb: config.resources.max_vram_mb, maxSysmemMb: config.resources.max_sysmem_mb }
          return nodeBudget(snap.gpus, snap.sysmem.totalMb, limits, hardware.cpuFeatures())
        },
        cookbook: () => this.fileCookbook,
      },
      { dirs: config.model_dirs },
    )
    this.instances = new InstanceManager(
      {
        logger: logger.child({ component: 'instances' }),
        binary: () =>
          resolveLlamaServer(config, logger.child({ component: 'llama' })).then((info) => {
            this.llamaVersion = info.version
            return info.serverPath
          }),
        runtimeDir: config.home,
        fit: admission({
          logger: logger.child({ component: 'admission' }),
          assess: (p, o) => this.resources.planner.assess(p, o),
          evictIdle: (o) => this.instances.evictIdle(o),
          resample: (o) => hardware.sample(o).then(() => {}),
          reserve: (r) => {
            this.resources.reserve(r)
            this.replan()
          },
        }),
        // Learned memory: sample each llama-server's real use while it runs.
        onProcessStarted: (p) => hardware.watchProcess(p.pid, p.launchHash, p.profileId),
        onProcessExited: (p) => hardware.unwatchProcess(p.pid),
      },
      { portBase: config.llama.port_base },
    )
    this.instances.setProfiles([...cookbook.profiles.values()])
    this.stateSources = {
      name,
      herdVersion: HERD_VERSION,
      llamaVersion: () => this.llamaVersion,
      startedAt: this.startedAt,
      draining: () => this.draining,
      cookbook: () => this.cookbook,
      load: () => this.instances.load(),
      resources: () => this.resources.state(),
      fit: (p) => this.resources.fit(p),
      fileMissing: (id) => this.modelFiles.missing(id),
      backends: () => this.backends.state(),
      costPerHour: config.tenants.cost_per_hour,
      running: () => runningInstances(this.instances.snapshot(), (pid) => this.resources.hardware.snapshot().processes.get(pid)),
      traffic: () => this.metrics.traffic.state(),
      inventory: () =>
        inventoryState({
          profiles: () => this.cookbook.profiles.values(),
          item: (id) => this.inventory.item(id),
          learned: (hash) => this.resources.learned.get(hash),
        }),
    }
    const remote: RemoteTargets = {
      peers: () => this.mesh?.peers() ?? [],
      forward: (peerId, req, opts) => {
        if (!this.mesh) return Promise.reject(new HerdError('peer_unavailable', 'the mesh is off'))
        return this.mesh.forward(peerId, req, opts)
      },
    }
    this.catalog = new ModelCatalog({
      nodeName: name,
      startedAt: this.startedAt,
      cookbook: () => this.cookbook,
      peers: remote.peers,
      fileMissing: (id) => this.modelFiles.missing(id),
      backends: () => this.backends.state(),
      localPrice: (id) => {
        const p = this.cookbook.profiles.get(id)
        const rate = this.instances.load().find((l) => l.profileId === id)?.tokensPerSecond ?? null
        return p === undefined ? undefined : localPrice(p, config.tenants.cost_per_hour, rate)
      },
    })
    this.metrics = new Metrics({ load: () => this.instances.load(), cache: () => this.cache?.stats() ?? { bytes: 0, entries: 0 } })
    this.router = new Router(
      {
        logger: logger.child({ component: 'router' }),
        local: {
          logger: logger.child({ component: 'proxy' }),
          instances: this.instances,
          dispatcher: this.dispatcher,
          nodeName: name,
          profile: (id) => this.cookbook.profiles.get(id),
          onCompleted: (model, stats) => {
            if (stats.tokens) {
              this.metrics.tokens.inc({ model }, stats.tokens)
              this.metrics.traffic.tokens(model, stats.tokens)
            }
          },
        },
        localModels: () => localModels(this.stateSources),
        localModel: (id) => localModel(this.stateSources, id),
        localResources: () => this.resources.state(),
        draining: () => this.draining,
        remote,
        backends: this.backends,
        price: (id) => this.catalog.price(id),
      },
      { maxHops: config.mesh.max_hops },
    )
    this.tenants = new Tenants(
      { logger: logger.child({ component: 'tenants' }), nodeId: () => this.mesh?.peerId ?? name, nodeName: () => name },
      {
        home: config.home,
        rateWindowMs: config.tenants.rate_window_ms,
        counterPushMs: config.tenants.counter_push_ms,
        heartbeatMs: config.mesh.gossip_interval_ms,
        cost: (usage) => costMicros(this.catalog.price(usage.model), usage.promptTokens, usage.completionTokens),
      },
    )
    this.cache = config.cache.enabled
      ? new ResponseCache(
          {
            logger: logger.child({ component: 'cache' }),
            ...(config.cache.semantic === null ? {} : { embed: meshEmbedder({ catalog: this.catalog, router: this.router }) }),
          },
          responseCacheInit(config.cache),
        )
      : undefined
    // Logs, prewarm and unload of another node travel over the mesh (api/admin-mesh.ts).
    const onPeer = meshAdmin({
      selfId: () => this.mesh?.peerId ?? 'local',
      selfName: name,
      peers: () => this.mesh?.peers() ?? [],
      forward: (peerId, req, opts) => remote.forward(peerId, req, opts),
    })
    this.admin = {
      servesLocally: (id) => this.cookbook.profiles.has(id),
      prewarm: async (id, opts) => {
        const p = this.cookbook.profiles.get(id)
        if (p) await this.instances.prewarm(p, opts)
      },
      unload: (id) => this.instances.unload(id),
      instances: () => this.instances.snapshot(),
      logs: (id) => this.instances.logs(id),
      backends: this.backends,
      // Mesh off: only this node's own name (or `local`) is this node; any other is not found.
      isSelf: (node) => onPeer.isSelf(node),
      remote: (node, req) => onPeer.remote(node, req),
    }
    this.app = buildApp({
      logger,
      nodeName: name,
      bodyLimitBytes: config.http.body_limit_bytes,
      apiKeys: config.http.api_keys,
      adminKeys: config.http.admin_keys,
      tenants: this.tenants,
      currency: config.tenants.currency,
      metricsAuth: config.http.metrics_auth,
      corsOrigins: config.http.cors_origins,
      ...(tls === undefined ? {} : { tls }),
      version: { herd: HERD_VERSION, llama: () => this.llamaVersion },
      router: this.router,
      ...(this.cache === undefined ? {} : { cache: this.cache }),
      catalog: this.catalog,
      convert: convertProtocols,
      metrics: this.metrics,
      tracing,
      health: () => ({ ready: this.started, draining: this.draining, canSpawn: !this.draining }),
      cluster: () => clusterView(this.nodeState(), this.mesh?.addresses() ?? [], this.mesh?.peers() ?? [], (id) => this.router.circuit(id)),
      inventory: () => {
        const self = this.nodeState()
        const peers = (this.mesh?.peers() ?? []).map((p) => ({ id: p.id, name: p.name, self: false, fresh: p.fresh, state: p.state }))
        return clusterInventory([{ id: self.id, name: self.name, self: true, fresh: true, state: self }, ...peers])
      },
      admin: this.admin,
    })
  }

  /** Start everything and listen. On failure, stop what started and rethrow. */
  async start(): Promise<void> {
    if (this.started) return
    try {
      const info = await resolveLlamaServer(this.config, this.logger.child({ component: 'llama' }))
      this.llamaVersion = info.version
      this.fitParamsPath = info.fitParamsPath
      await this.tracing.start()
      await this.tenants.start()
      this.tenants.on('usage:settled', (u) => this.metrics.tenantUsage(u))
      await this.instances.start()
      this.instances.on('instance:ready', (e) => this.metrics.spawnSeconds.observe({ model: e.profileId }, e.spawnMs / 1000))
      // Load itself is gossiped at once; fit answers are re-planned only when the load change moved what they read.
      this.instances.on('load:changed', () => {
        this.mesh?.notifyChanged()
        this.resources.loadChanged()
      })
      this.resources.hardware.on('resources:changed', () => this.replan())
      await this.resources.start()
      // model_dirs: found models join the cookbook before anything plans or serves (context sizing needs the first hardware sample).
      await this.inventory.start()
      this.cookbook = withDiscovered(this.fileCookbook, this.inventory.discovered())
      this.instances.setProfiles([...this.cookbook.profiles.values()])
      this.inventory.on('inventory:changed', () => this.applyCookbook(this.fileCookbook))
      await this.resources.refresh([...this.cookbook.profiles.values()])
      // Missing model files are reported before serving; a file that appears later is picked up within seconds.
      this.modelFiles.on('files:changed', () => this.replan())
      await this.modelFiles.start()
      this.watcher.on('cookbook:changed', (cb) => {
        this.applyCookbook(cb)
        // Which found models the cookbook now shadows (and which of its files it names) may have changed.
        void this.inventory.rescan()
      })
      await this.watcher.start()
      this.backends.on('backends:changed', () => this.mesh?.notifyChanged())
      await this.backends.start()
      if (this.config.mesh.enabled) await this.startMesh()
      const [host, port] = splitHostPort(this.config.http.listen)
      this.address = await this.app.listen({ host, port }).catch((err: unknown) => {
        if ((err as { code?: unknown } | null)?.code !== 'EADDRINUSE') throw err
        throw new HerdError(
          'config_invalid',
          `http.listen ${this.config.http.listen} is in use: another program listens there (choose another address in the config or with HERD_HTTP__LISTEN)`,
          { cause: err },
        )
      })
      const exposed = exposureWarning(this.config.http.listen, [...this.config.http.api_keys, ...this.config.http.admin_keys])
      if (exposed !== undefined) this.logger.warn({ listen: this.config.http.listen }, exposed)
      this.started = true
      this.logger.info(
        {
          url: this.address,
          peer_id: this.mesh?.peerId ?? null,
          models: [...this.cookbook.profiles.keys()],
          backends: this.backends.views().map((b) => b.name),
        },
        'herd is serving',
      )
    } catch (err: unknown) {
      await this.stop({ graceMs: 0 }).catch(() => {})
      throw err
    }
  }

  /** The HTTP address (`http://host:port`), once listening. */
  get url(): string | undefined {
    return this.address
  }

  /**
   * Drain: refuse new work, let in-flight requests finish within the grace, then stop
   * everything. In flight means served here (for our clients or forwarded by a peer) and
   * relayed from a peer to our clients; what is still running when the grace ends is cut,
   * and the rest of the shutdown is bounded too, so a stop takes at most grace + 5 s.
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.draining) return
    this.draining = true
    // A start that failed stops what it began without talk of draining: its error says it all.
    const log = this.started ? this.logger : this.logger.child({}, { level: 'warn' })
    const graceMs = options.graceMs ?? this.config.http.drain_timeout_ms
    const graceEnd = Date.now() + graceMs
    this.mesh?.notifyChanged()
    log.info({ grace_ms: graceMs }, 'draining')
    await Promise.all([
      this.instances
        .drain({ graceMs, signal: AbortSignal.timeout(graceMs + 5_000) })
        .catch((err: unknown) => this.logger.warn({ err }, 'drain did not finish cleanly')),
      this.mesh?.drainForwards({ signal: AbortSignal.timeout(graceMs) }),
    ])
    // HTTP requests still open (a peer serving them, a slow client) get what is left of the grace, then their connections are closed.
    const closing = this.app.close().catch(() => {})
    // The HTTP/2 server (http.tls) has no closeAllConnections; its sessions end with the process.
    const server = this.app.server as { closeAllConnections?: () => void }
    const force = setTimeout(() => server.closeAllConnections?.(), Math.max(0, graceEnd - Date.now()))
    await closing
    clearTimeout(force)
    await this.watcher.stop()
    this.modelFiles.stop()
    this.inventory.stop()
    await bounded(
      this.mesh?.stop().catch((err: unknown) => this.logger.warn({ err }, 'mesh stop failed')),
      3_000,
      () => this.logger.warn('mesh stop took over 3 s; going on'),
    )
    await this.instances.stop()
    // Spans end with their answers: what is queued goes out now (bounded), before the process ends.
    await this.tracing.stop({ timeoutMs: 2_000 })
    await this.tenants.stop()
    await bounded(this.backends.stop(), 2_000, () => this.logger.warn('backends took over 2 s to stop; going on'))
    await this.resources.stop()
    await bounded(this.dispatcher.close(), 1_000, () => void this.dispatcher.destroy().catch(() => {}))
    log.info('stopped')
  }

  /** A new cookbook file, or a change under model_dirs: the two merged become the cookbook in force. */
  private applyCookbook(fileCookbook: Cookbook): void {
    this.fileCookbook = fileCookbook
    const cookbook = withDiscovered(fileCookbook, this.inventory.discovered())
    this.cookbook = cookbook
    // A model's file or args may have changed, and its answers with them.
    this.cache?.clear()
    this.instances.setProfiles([...cookbook.profiles.values()])
    this.backends.setConfigured(cookbook.backends ?? [])
    this.replan()
    this.logger.info({ models: [...cookbook.profiles.keys()], backends: (cookbook.backends ?? []).map((b) => b.name) }, 'cookbook reloaded')
    void this.modelFiles.reload().catch((err: unknown) => this.logger.warn({ err }, 'model file check failed'))
  }

  /** Fit answers follow load, telemetry and the cookbook; peers hear of changes once they are known. */
  private replan(): void {
    this.mesh?.notifyChanged()
    void this.resources.refresh([...this.cookbook.profiles.values()]).then(() => this.mesh?.notifyChanged())
  }

  /** This node as its peers see it (with the mesh's seq and peer list), or a local stand-in when the mesh is off. */
  private nodeState(): NodeState {
    return this.mesh?.selfState() ?? { ...localState(this.stateSources), id: 'local', seq: 0, peers: [] }
  }

  private async startMesh(): Promise<void> {
    const file = this.config.mesh.secret_file
    if (file === null) throw new HerdError('config_invalid', MESH_SECRET_MISSING)
    const secret = await readFile(file).catch((err: unknown) => {
      throw new HerdError(
        'config_invalid',
        `mesh.secret_file ${file} cannot be read: ${err instanceof Error ? err.message : String(err)}. ${MESH_SECRET_MISSING}`,
      )
    })
    const mesh = createMesh(
      {
        logger: this.logger.child({ component: 'mesh' }),
        localState: () => localState(this.stateSources),
        onForward: forwardHandler({
          nodeName: this.config.node.name,
          catalog: this.catalog,
          convert: convertProtocols,
          route: (r) => this.router.route(r),
          admin: { catalog: this.catalog, admin: this.admin },
          tracing: this.tracing,
        }),
        services: [this.tenants.replication],
      },
      {
        home: this.config.home,
        listen: [...this.config.mesh.listen],
        mdns: this.config.mesh.mdns,
        peers: [...this.config.mesh.peers],
        secret,
        allow: [...this.config.mesh.allow],
        gossipIntervalMs: this.config.mesh.gossip_interval_ms,
        peerTimeoutMs: this.config.mesh.peer_timeout_ms,
        maxBodyBytes: this.config.http.body_limit_bytes,
      },
    )
    await mesh.start()
    this.mesh = mesh
    mesh.on('peer:left', (e: { id: string }) => this.router.circuits.forget(e.id))
  }
}

/** Waits for `work`, but no longer than `ms`; then calls `onLate` and goes on (a failure is logged by the caller's catch or ignored). */
async function bounded(work: Promise<unknown> | undefined, ms: number, onLate: () => void): Promise<void> {
  if (work === undefined) return
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onLate()
      resolve()
    }, ms)
  })
  await Promise.race([work.catch(() => {}), late])
  clearTimeout(timer)
}
