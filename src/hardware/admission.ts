/**
 * The check before every llama-server spawn: never start what will not fit. Fits now:
 * go, placed where the planner says. Fits after evicting idle instances: evict them
 * (least recently used first), then plan again. Fits only once busy instances finish:
 * wait for them, bounded by the profile's queue wait. Otherwise 503 `no_capacity`.
 */
import type { Logger } from 'pino'
import { HerdError } from '../errors/index.ts'
import type { Fit, SpawnPlacement } from '../instances/index.ts'
import type { FitPlan, Placement } from './index.ts'
import type { ProfileSpec } from '../config/index.ts'

export interface AdmissionDeps {
  logger: Logger
  plan: (profile: ProfileSpec, options: { signal: AbortSignal }) => Promise<FitPlan>
  evictIdle: (options: { signal: AbortSignal; exceptProfileId?: string; instanceIds?: readonly string[] }) => Promise<string | undefined>
  /** Called after evictions or while waiting, so telemetry catches up before the next plan. */
  resample: (options: { signal: AbortSignal }) => Promise<void>
  /** Longest wait for busy instances to free memory. Default: the profile's max_wait_in_queue_ms. */
  maxWaitMs?: (profile: ProfileSpec) => number
  pollMs?: number
}

export function admission(deps: AdmissionDeps): Fit {
  return async (profile, { signal }) => {
    const deadline = Date.now() + (deps.maxWaitMs?.(profile) ?? profile.maxWaitInQueueMs)
    for (;;) {
      const plan = await deps.plan(profile, { signal })
      if (plan.fit === 'now') return toSpawnPlacement(plan.placement)
      if (plan.fit === 'after-eviction') {
        let evicted = 0
        for (const id of plan.evict) {
          if (await deps.evictIdle({ signal, exceptProfileId: profile.id, instanceIds: [id] })) evicted++
        }
        deps.logger.info({ profile: profile.id, evicted: plan.evict }, 'evicted idle instances to make room')
        await deps.resample({ signal })
        // Someone else took the instances first: plan again from the new picture.
        if (evicted > 0 || plan.evict.length === 0) continue
      }
      if (plan.fit === 'none' && !plan.wouldFitEmpty) {
        throw new HerdError('no_capacity', `'${profile.id}' cannot fit on this node: ${plan.reason}`)
      }
      // Room exists once busy instances finish: wait for one to go idle, within the bound.
      if (Date.now() >= deadline) {
        const reason = plan.fit === 'none' ? plan.reason : 'no idle instance could be evicted'
        throw new HerdError('no_capacity', `'${profile.id}' does not fit while other models are busy: ${reason}`, { retryAfterSeconds: 5 })
      }
      await sleep(deps.pollMs ?? 250, signal)
      await deps.resample({ signal })
    }
  }
}

function toSpawnPlacement(p: Placement): SpawnPlacement {
  return { env: p.env, args: p.args, gpus: p.kind === 'gpu' ? p.gpus : [] }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      reject(signal.reason)
    }, { once: true })
  })
}
