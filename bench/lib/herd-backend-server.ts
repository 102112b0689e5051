/**
 * herd in front of an external OpenAI-compatible backend, and nothing else: the real
 * buildApp, Router and Backends component (pool, concurrency limit, circuit, probes, the
 * converter wired as the daemon wires it), one `openai` backend at `--upstream` serving
 * model `up/bench`. No llama-server, no mesh. Listens on 127.0.0.1:0 and prints its URL.
 *
 *   node bench/lib/herd-backend-server.ts --upstream http://127.0.0.1:PORT
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { Agent } from 'undici'
import { buildApp, Metrics } from '../../src/api/index.ts'
import { Backends, convertProtocols } from '../../src/backends/index.ts'
import { backendSchema, buildBackend } from '../../src/config/index.ts'
import type { Cookbook } from '../../src/config/types.ts'
import { HerdError } from '../../src/errors/index.ts'
import { ModelCatalog, Router } from '../../src/router/index.ts'
import { serveProbes } from './probe.ts'

/** The model clients ask herd for: backend `up`, its model `bench` (what the fake upstream answers as). */
export const BACKEND_MODEL = 'up/bench'

export async function startHerdBackend(upstream: string): Promise<{ url: string; close: () => Promise<void> }> {
  const logger = pino({ level: 'silent' })
  const home = await mkdtemp(join(tmpdir(), 'herd-bench-backends-'))
  // Limits well above the bench's concurrency: the bench measures the path, not the queue.
  const file = backendSchema.parse({ name: 'up', protocol: 'openai', base_url: `${upstream}/v1`, models: ['bench'], max_concurrency: 256 })
  const spec = await buildBackend(file, { dir: home, env: {}, source: 'bench', where: 'backends[up]' })
  const backends = new Backends({ logger, nodeName: 'bench', convert: convertProtocols }, { home, env: {} })
  backends.setConfigured([spec])
  await backends.start()
  // Read once at start (no registrations here); nothing is left behind however the child ends.
  await rm(home, { recursive: true, force: true })
  const cookbook: Cookbook = { profiles: new Map(), names: new Map(), defaultModel: undefined, sources: ['bench'] }
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 256 })
  const router = new Router({
    logger,
    local: {
      logger,
      nodeName: 'bench',
      dispatcher,
      profile: () => undefined,
      instances: { acquire: () => Promise.reject(new HerdError('model_not_found', 'no local models in this bench')) },
    },
    localModels: () => [],
    localResources: () => ({ gpus: [], sysmem: { totalMb: 0, freeMb: 0 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 0 }),
    draining: () => false,
    backends,
  })
  const catalog = new ModelCatalog({ nodeName: 'bench', startedAt: Date.now(), cookbook: () => cookbook, peers: () => [], backends: () => backends.state() })
  const app = buildApp({
    logger,
    nodeName: 'bench',
    bodyLimitBytes: 1024 * 1024,
    apiKeys: [],
    version: { herd: 'bench', llama: () => null },
    router,
    catalog,
    convert: convertProtocols,
    metrics: new Metrics({ load: () => [] }),
    health: () => ({ ready: true, draining: false, canSpawn: false }),
    cluster: () => [],
    admin: { servesLocally: () => false, prewarm: async () => {}, unload: async () => 0, instances: () => [], logs: () => [], backends },
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return {
    url,
    close: async () => {
      await app.close()
      await backends.stop()
      await dispatcher.close()
    },
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { upstream: { type: 'string' } } })
  if (values.upstream === undefined) throw new Error('--upstream http://host:port is required')
  const herd = await startHerdBackend(values.upstream)
  process.stdout.write(`${herd.url}\n`)
  serveProbes(() => void herd.close())
}
