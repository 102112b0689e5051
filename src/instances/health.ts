/**
 * Talk to a starting llama-server: poll `/health` until it answers 200 (it answers 503 while
 * the model loads, and refuses connections before it listens), then read its slot layout.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { request, type Dispatcher } from 'undici'

export interface HttpOptions {
  dispatcher: Dispatcher
  signal: AbortSignal
}

/** A probe that takes longer than this is retried, not waited on: the loop's deadline rules. */
const PROBE_TIMEOUT_MS = 2_000

/** Resolves when `/health` answers 200; rejects only when `signal` aborts. */
export async function waitHealthy(baseUrl: string, o: HttpOptions & { intervalMs: number }): Promise<void> {
  for (;;) {
    o.signal.throwIfAborted()
    try {
      const res = await request(`${baseUrl}/health`, {
        dispatcher: o.dispatcher,
        signal: o.signal,
        headersTimeout: PROBE_TIMEOUT_MS,
        bodyTimeout: PROBE_TIMEOUT_MS,
      })
      await res.body.dump()
      if (res.statusCode === 200) return
    } catch {
      // Not listening yet, or the probe timed out: try again until the caller's deadline.
      o.signal.throwIfAborted()
    }
    await delay(o.intervalMs, undefined, { signal: o.signal })
  }
}

export interface SlotInfo {
  slots: number
  /** Context size of one slot, when the server says. */
  nCtx: number | null
}

/**
 * Slots from `/props` (`total_slots`), per-slot context from `/slots`. `/slots` answers 501
 * when the server runs with `--no-slots`; then `/props` `default_generation_settings.n_ctx`
 * stands in.
 */
export async function readSlotInfo(baseUrl: string, o: HttpOptions): Promise<SlotInfo> {
  const props = await getJson(`${baseUrl}/props`, o)
  let slots = positiveInt(field(props, 'total_slots'))
  let nCtx: number | null = positiveInt(field(field(props, 'default_generation_settings'), 'n_ctx')) ?? null
  const list = await getJson(`${baseUrl}/slots`, o)
  if (Array.isArray(list) && list.length > 0) {
    slots ??= list.length
    nCtx = positiveInt(field(list[0], 'n_ctx')) ?? nCtx
  }
  return { slots: slots ?? 1, nCtx }
}

/** GET and parse JSON; a non-2xx answer or bad JSON reads as undefined. */
async function getJson(url: string, o: HttpOptions): Promise<unknown> {
  const res = await request(url, { dispatcher: o.dispatcher, signal: o.signal, headersTimeout: PROBE_TIMEOUT_MS, bodyTimeout: PROBE_TIMEOUT_MS })
  if (res.statusCode < 200 || res.statusCode >= 300) {
    await res.body.dump()
    return undefined
  }
  try {
    return await res.body.json()
  } catch {
    return undefined
  }
}

function field(obj: unknown, key: string): unknown {
  return typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined
}
