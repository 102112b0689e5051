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
}

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
   * Re-plan every profile (after telemetry, load or cookbook changes). Calls during a pass
   * share it, and one more pass follows so the answers reflect the latest change; a burst
   * of load changes costs two passes, not one per change.
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

  private async replan(profiles: readonly ProfileSpec[]): Promise<void> {
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
