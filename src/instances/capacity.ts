/** How many requests a profile's instances can take, before and after they report it. */
import type { ProfileSpec } from '../config/types.ts'
import type { Instance } from './instance.ts'
import type { ProfileLoad } from './types.ts'

/** `-np N`, `--parallel N` or `--parallel=N` from a profile's args, when given. */
export function parallelFromArgs(args: readonly string[]): number | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? ''
    const inline = /^--parallel=(\d+)$/.exec(a)
    const value = inline?.[1] ?? (a === '-np' || a === '--parallel' ? args[i + 1] : undefined)
    if (value !== undefined) {
      const n = Number(value)
      // -1 means "auto" to llama-server: not a count we can use.
      if (Number.isInteger(n) && n > 0) return n
    }
  }
  return undefined
}

/**
 * Slots a starting instance is expected to offer: what the last ready one reported, else
 * what the args ask for, else the server's default. An overestimate only delays an extra
 * spawn until the real count is known; an underestimate would spawn instances for nothing.
 */
export function expectedSlots(profile: ProfileSpec, learned: number | undefined, fallback: number): number {
  return learned ?? parallelFromArgs(profile.args) ?? fallback
}

/** Seconds a refused client should wait: the queue ahead of it at the learned hold time. */
export function retryAfterSeconds(o: { ahead: number; slots: number; holdMs: number | null }): number {
  const holdMs = o.holdMs ?? 1_000
  const seconds = Math.ceil(((o.ahead + 1) * holdMs) / Math.max(1, o.slots) / 1_000)
  return Math.min(60, Math.max(1, seconds))
}

/** A profile's load from its live (starting or ready, not draining) instances. */
export function loadOf(profileId: string, live: readonly Instance[], queueLength: number, tokensPerSecond: number | null): ProfileLoad {
  let readyInstances = 0
  let slotsTotal = 0
  let slotsBusy = 0
  for (const i of live) {
    if (i.state.status !== 'ready') continue
    readyInstances++
    slotsTotal += i.state.slots
    slotsBusy += i.busy
  }
  return { profileId, instances: live.length, readyInstances, slotsTotal, slotsBusy, queueLength, tokensPerSecond }
}
