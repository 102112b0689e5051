/**
 * This node's memory, as the rest of the daemon needs it: the hardware component's
 * telemetry and learned memory, the capacity planner over them, and a cache of "does each
 * profile fit now" answers so gossip and scoring (synchronous) never wait on planning.
 */
import type { Logger } from 'pino'
import type { Config, ProfileSpec } from '../config/index.ts'
import type { HeldInstance } from './capacity.ts'
import { Hardware } from './hardware.ts'
import { LearnedMemory } from './learned-memory.ts'
import { CapacityPlanner } from './planner.ts'
import type { Requirement } from './requirement.ts'
import { Reservations, type Reservation } from './reservations.ts'
import type { InstanceSnapshot } from '../instances/index.ts'
import type { ResourceState } from '../mesh/types.ts'

/** Whether a profile's cold start fits on this node, as gossip and scoring read it. */
export interface FitAnswer {
  /** A cold start fits in free memory now. */
  now: boolean
  /**
   * A cold start fits once herd's own instances make room: idle ones evicted, busy ones
   * finished. False: not here while the memory is as it is (other processes hold it, or the
   * node is too small), so nobody should wait for this node.
   */
  afterEviction: boolean
  /** Best estimate of what one instance needs, MiB. */
  vramMb: number | null
  sysmemMb: number | null
}

export interface NodeResourcesComponents {
  logger: Logger
  /** herd's instances now. */
  instances: () => InstanceSnapshot[]
  /** llama-fit-params of the build in use, once known. */
  fitParamsPath: () => string | null
  /** A re-plan that `loadChanged` started has finished: the fit answers may differ (gossip them). */
  onReplanned?: () => void
}

/**
 * Load changes re-plan at most this often. Under traffic slots are taken and freed
 * thousands of times a second; what planning reads of them (see `heldKey`) changes far
 * less, and admission plans afresh before every spawn, so fit answers for gossip and
 * scoring may trail a load change by this much.
 */
export const LOAD_REPLAN_MS = 50

export class NodeResources {
  readonly hardware: Hardware
  readonly learned: LearnedMemory
  readonly planner: CapacityPlanner
  /** Memory promised to admitted instances the device does not show yet. */
  readonly reservations: Reservations
  private readonly logger: Logger
  private readonly c: NodeResourcesComponents
  private readonly fits = new Map<string, FitAnswer>()
  private readonly requirements = new Map<string, Requirement>()
  private refreshing: Promise<void> | undefined
  private again = false
  private profiles: readonly ProfileSpec[] = []
  /** What the last pass read of herd's instances (see `heldKey`). */
  private plannedKey: string | undefined
  private loadTimer: NodeJS.Timeout | undefined

  constructor(components: NodeResourcesComponents, config: Pick<Config, 'resources' | 'home'>) {
    this.c = components
    this.logger = components.logger
    this.learned = new LearnedMemory({ logger: this.logger }, { home: config.home })
    // An unlisted GPU process is settled after two sample rounds (its use is in the totals by then).
    this.reservations = new Reservations({ unlistedSettleMs: 2 * config.resources.sample_interval_ms })
    this.hardware = new Hardware(
      { logger: this.logger, learned: this.learned },
      { nvidiaSmi: config.resources.nvidia_smi, sampleIntervalMs: config.resources.sample_interval_ms },
    )
    this.planner = new CapacityPlanner(
      {
        logger: this.logger,
        hardware: this.hardware,
        learned: this.learned,
        held: (forProfile) => this.held(forProfile),
        fitParamsPath: () => this.c.fitParamsPath(),
        cpuFeatures: () => this.hardware.cpuFeatures(),
      },
      { maxVramMb: config.resources.max_vram_mb, maxSysmemMb: config.resources.max_sysmem_mb },
    )
  }

  async start(): Promise<void> {
    await this.learned.start()
    await this.hardware.start()
  }

  async stop(): Promise<void> {
    clearTimeout(this.loadTimer)
    this.loadTimer = undefined
    await this.hardware.stop()
    await this.learned.stop()
  }

  state(): ResourceState {
    return this.planner.state()
  }

  /** The last fit answer for a profile; optimistic until the first plan is made. */
  fit(profile: ProfileSpec): FitAnswer {
    return this.fits.get(profile.id) ?? { now: true, afterEviction: true, vramMb: profile.estimatedVramMb ?? null, sysmemMb: profile.estimatedSysmemMb ?? null }
  }

  /**
   * Re-plan every profile (after telemetry, reservation or cookbook changes; load changes
   * come through `loadChanged`). Calls during a pass share it, and one more pass follows so
   * the answers reflect the latest change; a burst of changes costs two passes, not one each.
   */
  refresh(profiles: readonly ProfileSpec[] = this.profiles): Promise<void> {
    this.profiles = profiles
    if (this.refreshing) {
      this.again = true
      return this.refreshing
    }
    this.refreshing = (async () => {
      do {
        this.again = false
        await this.replan(this.profiles)
      } while (this.again)
    })().finally(() => {
      this.refreshing = undefined
    })
    return this.refreshing
  }

  /**
   * herd's instances changed load (a slot taken or freed, a queue moved, a spawn, an exit).
   * Re-planning on each would run placement for every profile twice per request; instead
   * the change is looked at within LOAD_REPLAN_MS, and planned only if it changed what
   * the fit answers read of the instances (see `heldKey`): a slot taken or freed changes
   * none. `onReplanned` hears when such a pass is done.
   */
  loadChanged(): void {
    if (this.loadTimer !== undefined) return
    this.loadTimer = setTimeout(() => {
      this.loadTimer = undefined
      if (heldKey(this.c.instances()) === this.plannedKey) return
      void this.refresh().then(() => this.c.onReplanned?.())
    }, LOAD_REPLAN_MS)
    this.loadTimer.unref()
  }

  private async replan(profiles: readonly ProfileSpec[]): Promise<void> {
    // Read before planning: a change during the pass makes the next look differ and plan again.
    this.plannedKey = heldKey(this.c.instances())
    for (const p of profiles) {
      try {
        const { plan, requirement: req } = await this.planner.assess(p)
        this.requirements.set(p.id, req)
        this.fits.set(p.id, {
          now: plan.fit === 'now',
          afterEviction: plan.fit !== 'none' || plan.wouldFitWithoutHerd,
          vramMb: req.vramMb || null,
          sysmemMb: req.sysmemMb || null,
        })
      } catch (err: unknown) {
        this.logger.debug({ err, profile: p.id }, 'could not plan this profile')
      }
    }
  }

  /** An admitted instance will take this much: count it until the device shows it (see Reservations). */
  reserve(r: Reservation): void {
    this.reservations.reserve(r)
  }

  /**
   * herd's instances and the memory each holds: measured when sampled, else the requirement
   * it was admitted with; an admitted instance still loading also holds its reservation.
   */
  held(forProfile?: string): HeldInstance[] {
    const snap = this.hardware.snapshot()
    const instances = this.c.instances()
    this.reservations.prune(instances)
    return (
      instances
        // A starting instance without a pid and without a reservation is still being admitted
        // (possibly the very one asking): it holds nothing yet, and counting it would make it
        // evict for itself. One that was admitted holds its reservation from then on.
        .filter((i) => i.state.status !== 'exited' && (i.state.status !== 'starting' || i.pid !== undefined || this.reservations.has(i.id)))
        .map((i) => {
          const base = { instanceId: i.id, idle: i.state.status === 'ready' && i.busy === 0 && i.profileId !== forProfile, lastUsedAt: i.lastUsedAt }
          const reserved = this.reservations.measure(i, i.id, snap)
          if (reserved) return { ...base, ...reserved }
          const usage = i.pid === undefined ? undefined : snap.processes.get(i.pid)
          const req = this.requirements.get(i.profileId)
          return { ...base, gpus: i.gpus, vramMb: usage?.vramMb ?? req?.vramMb ?? 0, sysmemMb: usage?.rssMb ?? req?.sysmemMb ?? 0 }
        })
    )
  }
}

/**
 * What the fit answers read of herd's instances, besides the device's figures (their own
 * event) and reservations (made with a re-plan): which instances live, in what state, and
 * whether their process exists (its measured use then counts, not the requirement).
 * Whether one is busy or idle is left out on purpose: it decides which instances a plan
 * would evict, never whether a profile fits now or after eviction (a busy instance makes
 * room once it finishes), so the slots taken and freed by every request plan nothing.
 */
export function heldKey(instances: readonly InstanceSnapshot[]): string {
  let key = ''
  for (const i of instances) if (i.state.status !== 'exited') key += `${i.id}:${i.state.status}:${i.pid ?? '-'};`
  return key
}
