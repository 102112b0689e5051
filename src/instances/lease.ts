/** A slot held on a ready instance for one request. */
import type { Instance } from './instance.ts'
import type { Lease } from './types.ts'

export type ReleaseStats = { tokens?: number; ms?: number }

/** Take a slot now; `onRelease` runs once, when the holder gives it back. */
export function createLease(inst: Instance, onRelease: (stats: ReleaseStats | undefined, heldMs: number) => void): Lease {
  inst.busy++
  touch(inst)
  const since = Date.now()
  let released = false
  return {
    instanceId: inst.id,
    baseUrl: inst.baseUrl,
    exited: inst.exited,
    release(stats) {
      if (released) return
      released = true
      inst.busy--
      touch(inst)
      onRelease(stats, Date.now() - since)
    },
  }
}

function touch(inst: Instance): void {
  inst.lastUsedAt = Date.now()
  inst.lastUsedMono = performance.now()
}

/** Tokens/s from release stats, when both numbers are there. */
export function rateOf(stats: ReleaseStats | undefined): number | undefined {
  if (stats?.tokens === undefined || stats.ms === undefined || stats.ms <= 0 || stats.tokens <= 0) return undefined
  return stats.tokens / (stats.ms / 1_000)
}

/** Settle with `p`, or reject with the signal's reason as soon as it aborts. */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
