/**
 * A load generator on undici: `concurrency` workers, each sending its next request as soon
 * as the previous answer has been read to the end, for `durationMs` (a closed loop); or,
 * with `ratePerSec`, requests started on a fixed schedule with at most `concurrency` in
 * flight (an open loop, for latency below saturation).
 * Records per-request latency (send to last byte), and for streams the time to the first
 * body byte and the number of SSE events.
 */
import type { Dispatcher } from 'undici'

export interface LoadSpec {
  dispatcher: Dispatcher
  origin: string
  path: string
  body: string
  stream: boolean
  concurrency: number
  durationMs: number
  /** SSE events (before `[DONE]`) a complete stream carries; a stream with fewer counts as an error. */
  expectEvents?: number
  /** The `authorization` of each request (e.g. a rotating tenant key). Absent: none. */
  authorization?: () => string
  /** Open loop: requests start at this rate on a fixed schedule; latency counts from the scheduled start (a late start is the system's delay too). */
  ratePerSec?: number
}

export interface LoadResult {
  requests: number
  errors: number
  elapsedMs: number
  /** Send to last body byte, ms. */
  latencies: number[]
  /** Send to first body byte, ms (streams only). */
  ttfbs: number[]
  /** SSE data events received, `[DONE]` excluded. */
  events: number
}

const LF = 0x0a

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const result: LoadResult = { requests: 0, errors: 0, elapsedMs: 0, latencies: [], ttfbs: [], events: 0 }
  const headers = { 'content-type': 'application/json', accept: spec.stream ? 'text/event-stream' : 'application/json' }
  const started = performance.now()
  const deadline = started + spec.durationMs
  let scheduled = 0
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      let t0 = performance.now()
      if (spec.ratePerSec !== undefined) {
        t0 = started + (scheduled++ * 1000) / spec.ratePerSec
        if (t0 >= deadline) break
        const wait = t0 - performance.now()
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      }
      let ttfb = -1
      let boundaries = 0
      let lastByte = 0
      try {
        const sent = spec.authorization === undefined ? headers : { ...headers, authorization: spec.authorization() }
        const res = await spec.dispatcher.request({ origin: spec.origin, path: spec.path, method: 'POST', headers: sent, body: spec.body })
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          if (ttfb < 0) ttfb = performance.now() - t0
          if (spec.stream) {
            // Events end in a blank line; one may straddle two chunks.
            if (lastByte === LF && chunk[0] === LF) boundaries++
            for (let i = chunk.indexOf('\n\n'); i !== -1; i = chunk.indexOf('\n\n', i + 2)) boundaries++
            lastByte = chunk[chunk.length - 1] ?? 0
          }
        }
        const latency = performance.now() - t0
        const events = Math.max(0, boundaries - 1)
        if (res.statusCode !== 200 || (spec.expectEvents !== undefined && spec.stream && events !== spec.expectEvents)) {
          result.errors++
          continue
        }
        result.requests++
        result.latencies.push(latency)
        if (spec.stream) {
          result.ttfbs.push(ttfb)
          result.events += events
        }
      } catch {
        result.errors++
      }
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, worker))
  result.elapsedMs = performance.now() - started
  return result
}
