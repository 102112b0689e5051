/**
 * The refresh loop: fetch, render, paint, wait, until the user quits. A failed fetch is a
 * line on the screen (with the last good answer kept beneath it), and the next tick tries
 * again; only quitting ends the loop.
 */
import { parseClusterNodes, type TopSnapshot } from './data.ts'
import { printable } from './layout.ts'
import { renderTop, type TopLine } from './render.ts'

export interface TopLoopOptions {
  url: string
  /** One `GET /cluster/nodes`: the parsed JSON, or a throw. */
  fetchNodes(signal: AbortSignal): Promise<unknown>
  intervalMs: number
  size(): { width: number; height: number }
  paint(lines: TopLine[]): void
  now?: () => number
}

/** A snapshot after one fetch: the new answer, or the old one with the error beside it. */
export async function refresh(
  prev: TopSnapshot,
  fetchNodes: (signal: AbortSignal) => Promise<unknown>,
  signal: AbortSignal,
  now: () => number,
): Promise<TopSnapshot> {
  try {
    const { nodes, skipped } = parseClusterNodes(await fetchNodes(signal))
    return { url: prev.url, nodes, skipped, fetchedAt: now(), error: null }
  } catch (err: unknown) {
    // The client's message goes on with advice for one-shot commands; the first sentence says it.
    const message = printable((err instanceof Error ? (err.message.split('. ')[0] ?? err.message) : String(err)).slice(0, 1000))
    return { ...prev, error: { message, since: prev.error?.since ?? now() } }
  }
}

export function emptySnapshot(url: string): TopSnapshot {
  return { url, nodes: [], skipped: 0, fetchedAt: null, error: null }
}

/** Runs until `signal` aborts; `redraw()` repaints the current snapshot (on resize). */
export function topLoop(options: TopLoopOptions, signal: AbortSignal): { done: Promise<void>; redraw(): void } {
  const now = options.now ?? Date.now
  let snapshot = emptySnapshot(options.url)
  const redraw = (): void => {
    if (signal.aborted) return
    const { width, height } = options.size()
    options.paint(renderTop(snapshot, { width, height, now: now(), intervalMs: options.intervalMs }))
  }
  const done = (async () => {
    redraw()
    while (!signal.aborted) {
      const started = now()
      snapshot = await refresh(snapshot, options.fetchNodes, signal, now)
      redraw()
      await wait(Math.max(options.intervalMs - (now() - started), 0), signal)
    }
  })()
  return { done, redraw }
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
