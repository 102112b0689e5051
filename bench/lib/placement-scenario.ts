/**
 * The simulated cluster, cookbooks and workload of `bench:placement`. Everything a run
 * depends on is here and derived from the seed, so both policies see the same requests.
 */
import type { ProfileSpec } from '../../src/config/types.ts'
import { Rng, zipf } from './placement-rng.ts'

export interface ModelSpec {
  /** Model name; the profile id is `${name}:default`. */
  name: string
  /** What one instance holds (VRAM on a GPU node, RAM on a CPU-only one), MiB. */
  sizeMb: number
  /** `-np`: parallel slots per instance. */
  slots: number
  maxInstances: number
  /** `-sm layer`: may be split over the GPUs of a multi-GPU node. */
  split: boolean
}

export interface NodeSpec {
  name: string
  /** VRAM of each GPU, MiB; empty for a CPU-only node. */
  gpusMb: number[]
  sysmemMb: number
  /** Effective memory bandwidth for decoding, GB/s: tokens/s per slot = this / model GB. */
  bandwidthGBs: number
  /** Model names this node's cookbook lists. */
  cookbook: string[]
}

export interface SimRequest {
  id: number
  /** Arrival, virtual ms. */
  at: number
  /** Profile id. */
  profileId: string
  tokens: number
  /** Index of the node the client sent it to. */
  origin: number
}

export interface Workload {
  seed: number
  durationMs: number
  /** Poisson arrivals, requests/s, models drawn by Zipf(s). */
  baseRate: number
  zipfS: number
  /** A burst: one Zipf-drawn model at `burstRate` extra req/s for `burstMs`, every ~`burstGapMs`. */
  burstRate: number
  burstMs: number
  burstGapMs: number
  /** Generated tokens per request: exponential with this mean, clamped to [16, 2048]. */
  meanTokens: number
}

export interface Knobs {
  queueCap: number
  idleTimeoutMs: number
  maxWaitInQueueMs: number
}

export const GPU_COOKBOOK = ['chat-8b', 'code-14b', 'tiny-4b', 'mix-20b', 'cpu-3b', 'big-40b']
export const CPU_COOKBOOK = ['chat-8b', 'tiny-4b', 'cpu-3b']

/** Zipf popularity follows this order (most requested first). */
export const MODELS: ModelSpec[] = [
  { name: 'chat-8b', sizeMb: 8_192, slots: 4, maxInstances: 2, split: false },
  { name: 'code-14b', sizeMb: 14_336, slots: 2, maxInstances: 1, split: false },
  { name: 'tiny-4b', sizeMb: 4_096, slots: 4, maxInstances: 2, split: false },
  { name: 'mix-20b', sizeMb: 20_480, slots: 2, maxInstances: 1, split: true },
  { name: 'cpu-3b', sizeMb: 2_560, slots: 4, maxInstances: 2, split: false },
  { name: 'big-40b', sizeMb: 40_960, slots: 4, maxInstances: 1, split: true },
]

export const NODES: NodeSpec[] = [
  { name: 'h100', gpusMb: [81_920], sysmemMb: 131_072, bandwidthGBs: 1_600, cookbook: GPU_COOKBOOK },
  { name: 'rtx4090', gpusMb: [24_576], sysmemMb: 65_536, bandwidthGBs: 700, cookbook: GPU_COOKBOOK },
  { name: '2x4060ti', gpusMb: [16_384, 16_384], sysmemMb: 65_536, bandwidthGBs: 220, cookbook: GPU_COOKBOOK },
  { name: 'cpu', gpusMb: [], sysmemMb: 65_536, bandwidthGBs: 40, cookbook: CPU_COOKBOOK },
]

/** RAM the OS and everything else hold on every node, MiB. */
export const OS_SYSMEM_MB = 4_096

export const profileId = (m: ModelSpec): string => `${m.name}:default`

/** Cold start: process start plus reading the weights at ~4 GB/s. */
export function coldStartMs(m: ModelSpec): number {
  return 2_000 + (m.sizeMb / 1024) * 250
}

/** Decoding speed of one slot of `m` on `n`, tokens/s. */
export function tokensPerSecond(n: NodeSpec, m: ModelSpec): number {
  return n.bandwidthGBs / (m.sizeMb / 1024)
}

/** The cookbook entry as the daemon would resolve it (only the fields placement reads matter). */
export function profileSpec(m: ModelSpec, k: Knobs): ProfileSpec {
  const args = ['-np', String(m.slots), ...(m.split ? ['-sm', 'layer'] : [])]
  return {
    id: profileId(m),
    model: m.name,
    profile: 'default',
    description: undefined,
    modelPath: undefined,
    args,
    capabilities: { completion: true, embeddings: false, rerank: false },
    idleTimeoutMs: k.idleTimeoutMs,
    startupTimeoutMs: 120_000,
    maxInstances: m.maxInstances,
    maxQueueSize: k.queueCap,
    maxWaitInQueueMs: k.maxWaitInQueueMs,
    estimatedVramMb: m.sizeMb,
    estimatedSysmemMb: 512,
    launchHash: `sim-${m.name}`,
  }
}

/** The request stream: base Poisson arrivals plus single-model bursts, each at a random node. */
export function generate(w: Workload, nodes: number): SimRequest[] {
  const rng = new Rng(w.seed)
  const weights = zipf(MODELS.length, w.zipfS)
  const out: Omit<SimRequest, 'id'>[] = []
  const tokens = (): number => Math.min(2048, Math.max(16, Math.round(rng.exp(w.meanTokens))))
  const model = (): string => profileId(MODELS[rng.weighted(weights)] as ModelSpec)
  for (let t = rng.exp(1000 / w.baseRate); t < w.durationMs; t += rng.exp(1000 / w.baseRate)) {
    out.push({ at: t, profileId: model(), tokens: tokens(), origin: rng.int(0, nodes - 1) })
  }
  for (let b = rng.exp(w.burstGapMs); b < w.durationMs; b += rng.exp(w.burstGapMs)) {
    const id = model()
    const end = Math.min(w.durationMs, b + w.burstMs)
    for (let t = b + rng.exp(1000 / w.burstRate); t < end; t += rng.exp(1000 / w.burstRate)) {
      out.push({ at: t, profileId: id, tokens: tokens(), origin: rng.int(0, nodes - 1) })
    }
  }
  return out.sort((a, b) => a.at - b.at).map((r, id) => ({ ...r, id }))
}

/** One line per node for the report. */
export function describeNode(n: NodeSpec): string {
  const mem = n.gpusMb.length === 0 ? `CPU only, ${n.sysmemMb / 1024} GB RAM` : `${n.gpusMb.map((g) => `${g / 1024} GB`).join(' + ')} GPU`
  return `${n.name}: ${mem}, ${n.bandwidthGBs} GB/s effective, cookbook ${n.cookbook.join(', ')}`
}
