/**
 * What `herd top` reads: `GET /cluster/nodes`, parsed once into the few fields the view
 * shows. The answer is a node's (or whatever answers at --url), so it is checked like any
 * input: lists and strings are capped, a field of the wrong type falls back to "unknown"
 * rather than failing the whole frame, and a node without an id and a name is skipped.
 * Fields a newer node adds pass unseen; fields an older node lacks (`traffic`, `herdMb`)
 * read as absent and render as `–`.
 */
import { z } from 'zod'
import { printable } from './layout.ts'

export const MAX_TOP_NODES = 512
export const MAX_TOP_MODELS = 1024
export const MAX_TOP_GPUS = 64
export const MAX_TOP_BACKENDS = 64
export const MAX_TOP_HISTORY = 1024
export const MAX_TOP_ERROR_CODES = 64
/** Names, ids, versions: longer ones are cut, never rejected; control characters become `?`. */
export const MAX_TOP_STRING = 200

const text = z.string().transform((s) => printable(s.slice(0, MAX_TOP_STRING)))
const num = z.number().finite()
/** A number, or null when missing or malformed. */
const maybe = num.nullable().catch(null)
/** A list whose malformed items are dropped and whose length is capped. */
function list<T extends z.ZodType>(item: T, max: number) {
  return z
    .array(z.unknown())
    .catch([])
    .transform((items) =>
      items.slice(0, max).flatMap((i) => {
        const r = item.safeParse(i)
        return r.success ? [r.data as z.output<T>] : []
      }),
    )
}

const gpu = z.object({
  index: num.catch(0),
  name: text.catch('gpu'),
  totalMb: num,
  usedMb: num.catch(0),
  freeMb: num.catch(0),
  /** herd's own instances' memory on this GPU (newer nodes; null: not said). */
  herdMb: maybe.optional().transform((v) => v ?? null),
})

const model = z.object({
  id: text,
  readyInstances: num.catch(0),
  slotsBusy: num.catch(0),
  slotsTotal: num.catch(0),
  queueLength: num.catch(0),
  /** Learned generation speed of one request on this node. */
  tokensPerSecond: maybe,
})

const backend = z.object({
  name: text,
  health: text.catch('unknown'),
  circuit: text.catch('unknown'),
  inUse: num.catch(0),
  maxConcurrency: num.catch(0),
  queueLength: num.catch(0),
})

const modelTraffic = z.object({
  id: text,
  requestsPerSecond: maybe,
  tokensPerSecond: maybe,
  ttfbP50Ms: maybe,
  ttfbP99Ms: maybe,
})

const traffic = z.object({
  windowSeconds: maybe,
  requestsPerSecond: maybe,
  tokensPerSecond: maybe,
  ttfbP50Ms: maybe,
  ttfbP99Ms: maybe,
  errors: z
    .record(z.string(), z.unknown())
    .catch({})
    .transform((r) =>
      Object.entries(r)
        .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]) && e[1] > 0)
        .slice(0, MAX_TOP_ERROR_CODES)
        .map(([code, count]) => ({ code: printable(code.slice(0, MAX_TOP_STRING)), count })),
    ),
  models: list(modelTraffic, MAX_TOP_MODELS),
  history: z
    .object({ requests: list(num, MAX_TOP_HISTORY), tokens: list(num, MAX_TOP_HISTORY) })
    .nullable()
    .catch(null),
})

const node = z.object({
  id: text,
  name: text,
  self: z.boolean().catch(false),
  status: text.catch('unknown'),
  fresh: z.boolean().catch(false),
  age_ms: maybe,
  started_at: z
    .string()
    .catch('')
    .transform((s) => {
      const t = Date.parse(s)
      return Number.isFinite(t) ? t : null
    }),
  circuit: text.nullable().catch(null),
  resources: z
    .object({
      gpus: list(gpu, MAX_TOP_GPUS),
      sysmem: z
        .object({ totalMb: num, freeMb: num, herdMb: maybe.optional().transform((v) => v ?? null) })
        .nullable()
        .catch(null),
    })
    .catch({ gpus: [], sysmem: null }),
  models: list(model, MAX_TOP_MODELS),
  backends: list(backend, MAX_TOP_BACKENDS),
  traffic: traffic
    .nullable()
    .optional()
    .catch(null)
    .transform((t) => t ?? null),
})

export type TopNode = z.output<typeof node>
export type TopGpu = TopNode['resources']['gpus'][number]
export type TopTraffic = NonNullable<TopNode['traffic']>

/** One fetch's outcome, and the newest nodes seen (kept on screen while a node is unreachable). */
export interface TopSnapshot {
  /** What --url (or the config) points at. */
  url: string
  nodes: TopNode[]
  /** Entries of the answer that were not nodes (no id or name): shown as a count. */
  skipped: number
  /** ms since epoch of the last good answer; null before the first. */
  fetchedAt: number | null
  /** Why the last fetch failed, and since when it has been failing; null while it answers. */
  error: { message: string; since: number } | null
}

/** Parse a `/cluster/nodes` answer. Throws only when it is not that kind of answer at all. */
export function parseClusterNodes(answer: unknown): { nodes: TopNode[]; skipped: number } {
  const nodes = (answer as { nodes?: unknown } | null)?.nodes
  if (!Array.isArray(nodes)) throw new Error('the answer to /cluster/nodes has no nodes list (is --url a herd node?)')
  const parsed = nodes.slice(0, MAX_TOP_NODES).flatMap((n) => {
    const r = node.safeParse(n)
    return r.success ? [r.data] : []
  })
  return { nodes: parsed, skipped: Math.min(nodes.length, MAX_TOP_NODES) - parsed.length }
}
