/**
 * Validation of states received over `/herd/state/1.0.0`. Loose objects: a newer node may
 * add fields (the protocol allows additive changes), and they travel through untouched.
 */
import { z } from 'zod'
import type { NodeState } from './types.ts'

const num = z.number().finite()

const gpu = z.looseObject({ index: num, uuid: z.string(), name: z.string(), totalMb: num, usedMb: num, freeMb: num })

const resources = z.looseObject({
  gpus: z.array(gpu),
  sysmem: z.looseObject({ totalMb: num, freeMb: num }),
  vramBudgetFreeMb: num.nullable(),
  sysmemBudgetFreeMb: num,
})

const model = z.looseObject({
  id: z.string(),
  model: z.string(),
  profile: z.string(),
  names: z.array(z.string()),
  description: z.string().optional(),
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
})

export const nodeStateSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string(),
  herdVersion: z.string(),
  llamaVersion: z.string().nullable(),
  startedAt: num,
  seq: z.number().int().nonnegative(),
  status: z.enum(['ready', 'draining']),
  resources,
  models: z.array(model),
  peers: z.array(z.looseObject({ id: z.string(), addrs: z.array(z.string()) })),
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
    return new Error(`malformed state: ${result.error.issues.slice(0, 3).map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`)
  }
  return result.data
}
