/**
 * The check before every llama-server spawn: never start what will not fit. Fits now:
 * go, placed where the planner says. Fits after evicting idle instances: evict them
 * (least recently used first), then plan again. Fits only once herd's own busy instances
 * finish: wait for them, bounded by the profile's queue wait (and the request's deadline).
 * Otherwise (other processes hold the memory, or the node is too small) 503 `no_capacity`
 * at once: nothing herd could wait for would make room.
 *
 * Decisions are made one at a time per node: plan, make room, reserve what the instance
 * will take, and only then the next plan, after a fresh telemetry sample. Without that, two
 * cold starts close together both "fit" into the same free memory. The spawns themselves
 * (and the waits between polls) overlap freely.
 */
import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from 'pino'
import { HerdError } from '../errors/index.ts'
import type { Fit, SpawnPlacement } from '../instances/index.ts'
import type { FitPlan, Placement } from './capacity.ts'
import type { Requirement } from './requirement.ts'
import type { Reservation } from './reservations.ts'
import type { ProfileSpec } from '../config/index.ts'

export interface AdmissionDeps {
  logger: Logger
  /** A plan for a cold start of the profile, with the requirement it was made for. */
  assess: (profile: ProfileSpec, options: { signal: AbortSignal }) => Promise<{ plan: FitPlan; requirement: Requirement }>
  evictIdle: (options: { signal: AbortSignal; exceptProfileId?: string; instanceIds?: readonly string[] }) => Promise<string | undefined>
  /** A fresh telemetry sample, so the next plan sees what just changed. */
  resample: (options: { signal: AbortSignal }) => Promise<void>
  /** Hold what an admitted instance will take until the device shows it. */
  reserve: (reservation: Reservation) => void
  /** Longest wait for busy instances to free memory. Default: the profile's max_wait_in_queue_ms. */
  maxWaitMs?: (profile: ProfileSpec) => number
  /** Between two looks while waiting. @default 250 */
  pollMs?: number
}

/** Seconds a refused client is told to wait before trying again. */
const RETRY_AFTER_SECONDS = 5
/** Evict-then-replan rounds in one decision before it counts as "wait". */
const EVICTION_ROUNDS = 3

type Decision = { kind: 'go'; placement: Placement; requirement: Requirement } | { kind: 'wait'; reason: string } | { kind: 'refuse'; error: HerdError }

export function admission(deps: AdmissionDeps): Fit {
  const serial = new Serial()
  // Set when an instance was admitted: the next decision first takes a fresh sample.
  let admittedSinceSample = false

  const decide = async (profile: ProfileSpec, instanceId: string, signal: AbortSignal): Promise<Decision> => {
    if (admittedSinceSample) {
      admittedSinceSample = false
      await deps.resample({ signal })
    }
    let { plan, requirement } = await deps.assess(profile, { signal })
    for (let round = 0; plan.fit === 'after-eviction' && round < EVICTION_ROUNDS; round++) {
      let evicted = 0
      for (const id of plan.evict) {
        if (await deps.evictIdle({ signal, exceptProfileId: profile.id, instanceIds: [id] })) evicted++
      }
      deps.logger.info({ profile: profile.id, evicted: plan.evict }, 'evicted idle instances to make room')
      await deps.resample({ signal })
      const again = await deps.assess(profile, { signal })
      plan = again.plan
      requirement = again.requirement
      // Nothing could be taken (stopped meanwhile, or busy again): wait for the picture to change.
      if (evicted === 0) break
    }
    if (plan.fit === 'now') {
      const gpus = plan.placement.kind === 'gpu' ? plan.placement.gpus : []
      deps.reserve({ instanceId, profileId: profile.id, gpus, vramMb: gpus.length > 0 ? requirement.vramMb : 0, sysmemMb: requirement.sysmemMb })
      admittedSinceSample = true
      return { kind: 'go', placement: plan.placement, requirement }
    }
    if (plan.fit === 'none' && !plan.wouldFitWithoutHerd) {
      // Other processes' memory, or a node too small: no wait would help.
      return {
        kind: 'refuse',
        error: new HerdError('no_capacity', `'${profile.id}' cannot fit on this node: ${plan.reason}`, { retryAfterSeconds: RETRY_AFTER_SECONDS }),
      }
    }
    return { kind: 'wait', reason: plan.fit === 'none' ? plan.reason : 'no idle instance could be evicted' }
  }

  return async (profile, { signal, instanceId, deadline: until }) => {
    const deadline = Math.min(Date.now() + (deps.maxWaitMs?.(profile) ?? profile.maxWaitInQueueMs), until ?? Infinity)
    let logged = false
    for (;;) {
      const d = await serial.run(signal, () => decide(profile, instanceId, signal))
      if (d.kind === 'go') return toSpawnPlacement(d.placement, d.requirement)
      if (d.kind === 'refuse') throw d.error
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new HerdError('no_capacity', `'${profile.id}' does not fit while other models are busy: ${d.reason}`, { retryAfterSeconds: RETRY_AFTER_SECONDS })
      }
      if (!logged) {
        logged = true
        deps.logger.info({ profile: profile.id, reason: d.reason, wait_ms: left }, 'waiting for busy instances to make room')
      }
      // timers/promises removes its abort listener when the timer fires: a long wait leaves none behind.
      await delay(Math.min(deps.pollMs ?? 250, left), undefined, { signal })
      await deps.resample({ signal })
    }
  }
}

function toSpawnPlacement(p: Placement, r: Requirement): SpawnPlacement {
  const gpus = p.kind === 'gpu' ? p.gpus : []
  // What the launch is admitted for: the figure reserved against it (no VRAM on a CPU launch).
  return { env: p.env, args: p.args, gpus, estimate: { vramMb: gpus.length > 0 ? r.vramMb : 0, sysmemMb: r.sysmemMb } }
}

/** Runs tasks one at a time, in the order they were asked for. */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve()

  run<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(() => {
      // Gave up while in line: its turn passes at once.
      signal.throwIfAborted()
      return task()
    })
    this.tail = result.catch(() => undefined)
    return result
  }
}
