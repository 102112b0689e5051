/**
 * Talk to a starting llama-server: poll `/health` until it answers 200 (it answers 503 while
 * the model loads, and refuses connections before it listens), then read its slot layout.
 * A cold request waits on all of this, so each step is as short as it can be.
 */
import { request, type Dispatcher } from 'undici'

export interface HttpOptions {
  dispatcher: Dispatcher
  signal: AbortSignal
}

/** A probe that takes longer than this is retried, not waited on: the loop's deadline rules. */
const PROBE_TIMEOUT_MS = 2_000

/** The first retry comes this soon; each later one 1.5× later, up to the caller's interval. */
const FIRST_RETRY_MS = 2
const BACKOFF = 1.5
/**
 * What llama-server logs once its HTTP server listens: "llama_server: listening on
 * http://…" in this build, "main: server is listening on http://…" in older ones (the
 * earlier "HTTP server is listening, hostname: …" of those comes before the model loads).
 */
export const LISTENING_LINE = /\blistening on https?:\/\//i

export interface WaitHealthyOptions extends HttpOptions {
  /** The longest gap between probes (the backoff's ceiling). */
  intervalMs: number
  /** The gap after the first failed probe. @default 2 */
  firstRetryMs?: number
  /**
   * Hooks a callback that probes at once, whatever the backoff says: the instance calls it
   * when llama-server logs that it listens. Returns the unhook.
   */
  nudge?: (probeNow: () => void) => () => void
}

/**
 * Resolves when `/health` answers 200; rejects only when `signal` aborts. Probes back off
 * from a few ms (a tiny model is ready in tens of ms) to `intervalMs` (a large one takes
 * minutes), and a nudge cuts the wait short. Readiness is still `/health` saying 200: a log
 * line alone never sends a request to a server that is not ready.
 */
export async function waitHealthy(baseUrl: string, o: WaitHealthyOptions): Promise<void> {
  // Shared with the nudge callback: whether one came since the last probe began, and how to cut a sleep short.
  const nudge: { came: boolean; wake: (() => void) | undefined } = { came: false, wake: undefined }
  const unhook = o.nudge?.(() => {
    nudge.came = true
    nudge.wake?.()
  })
  try {
    let gap = o.firstRetryMs ?? FIRST_RETRY_MS
    for (;;) {
      o.signal.throwIfAborted()
      nudge.came = false
      if (await probe(baseUrl, o)) return
      o.signal.throwIfAborted()
      // A nudge that came during the probe (it was refused just before the listen) counts too.
      if (!nudge.came) await sleep(Math.min(gap, o.intervalMs), o.signal, (w) => (nudge.wake = w))
      nudge.wake = undefined
      gap *= BACKOFF
    }
  } finally {
    unhook?.()
  }
}

async function probe(baseUrl: string, o: HttpOptions): Promise<boolean> {
  try {
    const res = await request(`${baseUrl}/health`, {
      dispatcher: o.dispatcher,
      signal: o.signal,
      headersTimeout: PROBE_TIMEOUT_MS,
      bodyTimeout: PROBE_TIMEOUT_MS,
    })
    await res.body.dump()
    return res.statusCode === 200
  } catch {
    // Not listening yet, or the probe timed out: try again until the caller's deadline.
    return false
  }
}

/** Waits `ms`, or until the function handed to `onWake` is called; rejects when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal, onWake: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      resolve()
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', onAbort, { once: true })
    onWake(done)
  })
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
  // Both at once: they are independent, and a cold request waits on this.
  const [props, list] = await Promise.all([getJson(`${baseUrl}/props`, o), getJson(`${baseUrl}/slots`, o)])
  let slots = positiveInt(field(props, 'total_slots'))
  let nCtx: number | null = positiveInt(field(field(props, 'default_generation_settings'), 'n_ctx')) ?? null
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
