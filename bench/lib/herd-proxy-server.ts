/**
 * herd's HTTP path with nothing behind it but a fake upstream: the real buildApp and a
 * real Router, whose LocalInstances hands out a lease on `--upstream` at once (no
 * llama-server, no supervisor, no mesh). Listens on 127.0.0.1:0 and prints its URL.
 *
 *   node bench/lib/herd-proxy-server.ts --upstream http://127.0.0.1:PORT
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { Agent } from 'undici'
import { buildApp, Metrics } from '../../src/api/index.ts'
import type { Cookbook, ProfileSpec } from '../../src/config/types.ts'
import type { ModelState } from '../../src/mesh/types.ts'
import { ModelCatalog, Router } from '../../src/router/index.ts'
import { createTracing } from '../../src/telemetry/index.ts'
import { Tenants } from '../../src/tenants/index.ts'
import { serveProbes } from './probe.ts'

export const BENCH_MODEL = 'bench'

const PROFILE: ProfileSpec = {
  id: `${BENCH_MODEL}:default`,
  model: BENCH_MODEL,
  profile: 'default',
  description: undefined,
  modelPath: undefined,
  args: [],
  capabilities: { completion: true, embeddings: false, rerank: false },
  idleTimeoutMs: 600_000,
  startupTimeoutMs: 60_000,
  maxInstances: 1,
  maxQueueSize: 1024,
  maxWaitInQueueMs: 60_000,
  estimatedVramMb: undefined,
  estimatedSysmemMb: undefined,
  launchHash: 'bench',
}

/** Always loaded, never busy: the router picks this node on the fast path (tier 0). */
const MODEL_STATE: ModelState = {
  id: PROFILE.id,
  model: BENCH_MODEL,
  profile: 'default',
  names: [BENCH_MODEL],
  capabilities: PROFILE.capabilities,
  instances: 1,
  readyInstances: 1,
  slotsTotal: 1024,
  slotsBusy: 0,
  queueLength: 0,
  maxInstances: 1,
  maxQueueSize: 1024,
  tokensPerSecond: null,
  estimatedVramMb: null,
  estimatedSysmemMb: null,
  canFitNow: true,
  canFitAfterEviction: true,
}

/**
 * With `tenants`: that many tenant keys (with rpm, tpm and a daily quota) in a real store under `home`, their secrets written to `home/secrets.json`.
 * With `otlp`: tracing on, exporting there as the daemon would (`telemetry.otlp_endpoint`).
 */
export async function startHerdProxy(
  upstream: string,
  tenants?: { keys: number; home: string },
  otlp?: string,
): Promise<{ url: string; close: () => Promise<void> }> {
  const logger = pino({ level: 'silent' })
  const tracing = await createTracing({ logger }, { otlp_endpoint: otlp ?? null, service_name: 'herd', sample_ratio: 1 }, { name: 'bench' })
  await tracing.start()
  let keyring: Tenants | undefined
  if (tenants !== undefined) {
    keyring = new Tenants({ logger, nodeId: () => 'bench' }, { home: tenants.home })
    await keyring.start()
    const secrets: string[] = []
    for (let i = 0; i < tenants.keys; i++) {
      const made = keyring.createKey({ name: `bench-${i}`, rpm: 1_000_000, tpm: 1_000_000_000, tokens_per_day: 1_000_000_000_000 })
      secrets.push(made.secret.reveal())
    }
    await writeFile(join(tenants.home, 'secrets.json'), JSON.stringify(secrets))
  }
  const cookbook: Cookbook = {
    profiles: new Map([[PROFILE.id, PROFILE]]),
    names: new Map([[BENCH_MODEL, PROFILE.id]]),
    defaultModel: PROFILE.id,
    sources: ['bench'],
  }
  // As the daemon builds it.
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 256 })
  const never = new AbortController().signal
  const router = new Router({
    logger,
    local: {
      logger,
      nodeName: 'bench',
      dispatcher,
      profile: (id) => cookbook.profiles.get(id),
      instances: { acquire: async () => ({ instanceId: 'bench-1', baseUrl: upstream, exited: never, release: () => {} }) },
    },
    localModels: () => [MODEL_STATE],
    localResources: () => ({ gpus: [], sysmem: { totalMb: 0, freeMb: 0 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 0 }),
    draining: () => false,
  })
  const catalog = new ModelCatalog({ nodeName: 'bench', startedAt: Date.now(), cookbook: () => cookbook, peers: () => [] })
  const app = buildApp({
    logger,
    nodeName: 'bench',
    bodyLimitBytes: 1024 * 1024,
    apiKeys: [],
    ...(keyring === undefined ? {} : { tenants: keyring, adminKeys: ['bench-admin'] }),
    version: { herd: 'bench', llama: () => null },
    router,
    catalog,
    metrics: new Metrics({ load: () => [] }),
    tracing,
    health: () => ({ ready: true, draining: false, canSpawn: false }),
    cluster: () => [],
    admin: {
      servesLocally: (id) => cookbook.profiles.has(id),
      prewarm: async () => {},
      unload: async () => 0,
      instances: () => [],
      logs: () => [],
    },
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return {
    url,
    close: async () => {
      await app.close()
      await dispatcher.close()
      await keyring?.stop()
      await tracing.stop()
    },
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { upstream: { type: 'string' }, keys: { type: 'string' }, home: { type: 'string' }, otlp: { type: 'string' } } })
  if (values.upstream === undefined) throw new Error('--upstream http://host:port is required')
  const tenants = values.keys === undefined || values.home === undefined ? undefined : { keys: Number(values.keys), home: values.home }
  const proxy = await startHerdProxy(values.upstream, tenants, values.otlp)
  process.stdout.write(`${proxy.url}\n`)
  serveProbes(() => void proxy.close())
}
