/**
 * Validation of states received over `/herd/state/1.0.0`. Loose objects: a newer node may
 * add fields (the protocol allows additive changes), and they travel through untouched.
 * Lists and strings are capped, so a peer cannot hand every node an unbounded dial list
 * or a model table to score on each request; a state past a cap is dropped whole.
 */
import { z } from 'zod'
import { MAX_ADDRS_PER_PEER } from './constants.ts'
import type { NodeState } from './types.ts'

/** Peers one state may name (peers of peers to dial). */
export const MAX_GOSSIP_PEERS = 256
/** `model:profile` entries one state may list. */
export const MAX_GOSSIP_MODELS = 1024
export const MAX_GOSSIP_GPUS = 64
/** Names (aliases) per model. */
export const MAX_MODEL_NAMES = 64
/** Ids, names, versions, addresses. */
export const MAX_SHORT_STRING = 512
export const MAX_DESCRIPTION = 4096
/** External backends one state may list. */
export const MAX_GOSSIP_BACKENDS = 64
/** Backend models one state may list, over all its backends. */
export const MAX_GOSSIP_BACKEND_MODELS = 1024
/** Model files one state's inventory may list (one per local `model:profile`, like `models`). */
export const MAX_GOSSIP_INVENTORY = 1024
/** A file name (most file systems stop at 255 bytes). */
export const MAX_FILE_NAME = 255

/** The largest price per million tokens a peer may state (the cookbook's cap). */
export const MAX_GOSSIP_PRICE = 1_000_000
/** Instances listed per model. */
export const MAX_GOSSIP_INSTANCES = 64
/** Models and error codes in a traffic summary. */
export const MAX_GOSSIP_TRAFFIC_MODELS = 64
export const MAX_GOSSIP_TRAFFIC_ERRORS = 64
/** Steps of traffic history. */
export const MAX_GOSSIP_TRAFFIC_STEPS = 360

const num = z.number().finite()
const short = z.string().max(MAX_SHORT_STRING)

const gpu = z.looseObject({ index: num, uuid: short, name: short, totalMb: num, usedMb: num, freeMb: num, herdMb: num.optional() })

const resources = z.looseObject({
  gpus: z.array(gpu).max(MAX_GOSSIP_GPUS),
  sysmem: z.looseObject({ totalMb: num, freeMb: num, herdMb: num.optional() }),
  vramBudgetFreeMb: num.nullable(),
  sysmemBudgetFreeMb: num,
})

/** A price per million tokens: capped like the cookbook's, so a peer cannot make a sum overflow. */
const price = z.looseObject({ inputPerMtok: z.number().nonnegative().max(MAX_GOSSIP_PRICE), outputPerMtok: z.number().nonnegative().max(MAX_GOSSIP_PRICE) })

const instance = z.looseObject({
  id: short,
  state: z.enum(['starting', 'ready', 'stopping']),
  slots: num,
  busy: num,
  gpus: z.array(num).max(MAX_GOSSIP_GPUS),
  vramMb: num.nullable(),
  sysmemMb: num.nullable(),
  startedAt: num,
})

const ms = num.nonnegative().nullable()
const steps = <T extends z.ZodType>(item: T) => z.array(item).max(MAX_GOSSIP_TRAFFIC_STEPS)
const traffic = z.looseObject({
  windowSeconds: num.positive(),
  requestsPerSecond: num.nonnegative(),
  tokensPerSecond: num.nonnegative(),
  ttfbP50Ms: ms,
  ttfbP99Ms: ms,
  errors: z
    .record(short, num.nonnegative())
    .refine((e) => Object.keys(e).length <= MAX_GOSSIP_TRAFFIC_ERRORS, `at most ${MAX_GOSSIP_TRAFFIC_ERRORS} error codes`),
  models: z
    .array(z.looseObject({ id: short, requestsPerSecond: num.nonnegative(), tokensPerSecond: num.nonnegative(), ttfbP50Ms: ms, ttfbP99Ms: ms }))
    .max(MAX_GOSSIP_TRAFFIC_MODELS),
  history: z.looseObject({
    stepSeconds: num.positive(),
    requests: steps(num.nonnegative()),
    tokens: steps(num.nonnegative()),
    ttfbP50Ms: steps(ms),
    ttfbP99Ms: steps(ms),
  }),
})

const model = z.looseObject({
  id: short,
  model: short,
  profile: short,
  names: z.array(short).max(MAX_MODEL_NAMES),
  description: z.string().max(MAX_DESCRIPTION).optional(),
  capabilities: z.looseObject({ completion: z.boolean(), embeddings: z.boolean(), rerank: z.boolean() }),
  instances: num,
  readyInstances: num,
  slotsTotal: num,
  slotsBusy: num,
  queueLength: num,
  maxInstances: num,
  maxQueueSize: num,
  tokensPerSecond: num.nullable(),
  estimatedVramMb: num.nullable(),
  estimatedSysmemMb: num.nullable(),
  canFitNow: z.boolean(),
  canFitAfterEviction: z.boolean(),
  fileMissing: z.boolean().optional(),
  price: price.optional(),
  running: z.array(instance).max(MAX_GOSSIP_INSTANCES).optional(),
})

const backendModel = z.looseObject({ id: short, model: short, names: z.array(short).max(MAX_MODEL_NAMES), price: price.optional() })

const backend = z.looseObject({
  name: short,
  protocol: z.enum(['openai', 'anthropic']),
  egress: z.boolean(),
  health: z.enum(['up', 'down', 'unknown']),
  circuit: z.enum(['closed', 'open', 'half-open']),
  inUse: num,
  maxConcurrency: num,
  queueLength: num,
  maxQueueSize: num,
  models: z.array(backendModel).max(MAX_GOSSIP_BACKEND_MODELS),
})

const backends = z
  .array(backend)
  .max(MAX_GOSSIP_BACKENDS)
  .refine((list) => list.reduce((n, b) => n + b.models.length, 0) <= MAX_GOSSIP_BACKEND_MODELS, `at most ${MAX_GOSSIP_BACKEND_MODELS} backend models in all`)

const mb = z.number().finite().nonnegative()
/** File names and GGUF names are printed by `herd inventory`: no control characters (terminal escapes). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NO_CONTROL = /^[^\u0000-\u001f\u007f-\u009f]*$/
const printable = (max: number) => z.string().max(max).regex(NO_CONTROL, 'no control characters')

const inventoryEntry = z.looseObject({
  id: short,
  source: z.enum(['cookbook', 'model_dirs']),
  file: printable(MAX_FILE_NAME),
  architecture: printable(64),
  parameters: mb,
  quantization: printable(64).nullable(),
  contextLength: mb,
  sizeBytes: mb,
  parts: z.number().int().min(1).max(100_000),
  mmproj: printable(MAX_FILE_NAME).nullable(),
  context: mb.optional(),
  estimateVramMb: mb.optional(),
  estimateSysmemMb: mb.optional(),
  learnedVramMb: mb.nullable().optional(),
  learnedSysmemMb: mb.optional(),
})

export const nodeStateSchema = z.looseObject({
  id: short.min(1),
  name: short,
  herdVersion: short,
  llamaVersion: short.nullable(),
  startedAt: num,
  seq: z.number().int().nonnegative(),
  status: z.enum(['ready', 'draining']),
  resources,
  models: z.array(model).max(MAX_GOSSIP_MODELS),
  backends: backends.optional(),
  traffic: traffic.optional(),
  inventory: z.array(inventoryEntry).max(MAX_GOSSIP_INVENTORY).optional(),
  peers: z.array(z.looseObject({ id: short, addrs: z.array(short).max(MAX_ADDRS_PER_PEER) })).max(MAX_GOSSIP_PEERS),
})

// Compile-time check that the schema describes NodeState (and stays in step with it).
type Parsed = z.infer<typeof nodeStateSchema>
const _compatible: (s: Parsed) => NodeState = (s) => s
void _compatible

/** The state in `json`, or an Error saying what is wrong with it. */
export function parseNodeState(json: string): NodeState | Error {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch (err: unknown) {
    return new Error('state is not JSON', { cause: err })
  }
  const result = nodeStateSchema.safeParse(value)
  if (!result.success) {
    return new Error(
      `malformed state: ${result.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.')} ${i.message}`)
        .join('; ')}`,
    )
  }
  return result.data
}
