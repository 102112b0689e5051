/**
 * The capacity planner as the daemon uses it: for a profile, work out its requirement once
 * per launch hash (llama-fit-params and the GGUF estimate do not change while the file and
 * args do not; learned figures are looked up fresh each time), then hand the arithmetic to
 * the pure `planFit` / `resourceState`.
 */
import type { Logger } from 'pino'
import type { ProfileSpec } from '../config/types.ts'
import type { ResourceState } from '../mesh/types.ts'
import type { CpuFeatures } from './cpu-features.ts'
import { planFit, resourceState, type FitPlan, type HeldInstance, type Limits } from './capacity.ts'
import { estimateProfile, GgufInfoCache, type ProfileEstimate } from './estimate-profile.ts'
import { fitParams, type FitParamsResult } from './fit-params.ts'
import type { HardwareSnapshot } from './hardware.ts'
import type { LearnedMemory } from './learned-memory.ts'
import { parseLaunchArgs } from './launch-args.ts'
import { resolveRequirement, type Requirement } from './requirement.ts'

export interface CapacityPlannerComponents {
  logger: Logger
  hardware: { snapshot(): HardwareSnapshot }
  learned?: LearnedMemory
  /** herd's instances and what each holds, now. */
  /**
   * herd's instances and what each holds, now. When planning a cold start of `forProfile`,
   * its own instances are not offered as idle: admission never evicts a profile to start
   * that same profile, so naming them would evict others for nothing.
   */
  held: (forProfile?: string) => readonly HeldInstance[]
  /** `llama-fit-params` of the installed build, when there is one. */
  fitParamsPath?: () => string | null
  /** This node's CPU features (extra weight buffers on a CPU-only node); absent: none counted. */
  cpuFeatures?: () => CpuFeatures | undefined
}

interface Static {
  estimate: ProfileEstimate | undefined
  fit: FitParamsResult | undefined
}

export class CapacityPlanner {
  private readonly c: CapacityPlannerComponents
  private readonly limits: Limits
  private readonly ggufCache = new GgufInfoCache()
  private readonly statics = new Map<string, Promise<Static>>()

  constructor(components: CapacityPlannerComponents, limits: Limits) {
    this.c = components
    this.limits = limits
  }

  /** What one instance of this profile needs on this node, from the best source at hand. */
  async requirement(profile: ProfileSpec, options: { signal?: AbortSignal } = {}): Promise<Requirement> {
    const s = await this.staticSources(profile, options.signal)
    const gpu = this.c.hardware.snapshot().gpus.length > 0
    return resolveRequirement(
      {
        learned: this.c.learned?.get(profile.launchHash),
        fit: s.fit,
        estimate: s.estimate?.estimate,
        cookbook: { estimatedVramMb: profile.estimatedVramMb, estimatedSysmemMb: profile.estimatedSysmemMb },
      },
      { gpu },
    )
  }

  /** Whether a cold start of this profile fits now, after evicting idle instances, or not. */
  async plan(profile: ProfileSpec, options: { signal?: AbortSignal } = {}): Promise<FitPlan> {
    return (await this.assess(profile, options)).plan
  }

  /** The plan together with the requirement it was made for (one requirement lookup, not two). */
  async assess(profile: ProfileSpec, options: { signal?: AbortSignal } = {}): Promise<{ plan: FitPlan; requirement: Requirement }> {
    const requirement = await this.requirement(profile, options)
    const snap = this.c.hardware.snapshot()
    const plan = planFit({
      gpus: snap.gpus,
      sysmem: snap.sysmem,
      limits: this.limits,
      held: this.c.held(profile.id),
      requirement,
      launch: parseLaunchArgs(profile.args),
    })
    return { plan, requirement }
  }

  /** This node's memory for gossip. */
  state(): ResourceState {
    const snap = this.c.hardware.snapshot()
    return resourceState({ gpus: snap.gpus, sysmem: snap.sysmem, limits: this.limits, held: this.c.held() })
  }

  private staticSources(profile: ProfileSpec, signal: AbortSignal | undefined): Promise<Static> {
    // Whether the node has GPUs decides where host weights go (see estimate-profile.ts).
    const gpu = this.c.hardware.snapshot().gpus.length > 0
    const key = `${profile.launchHash}:${gpu ? 'gpu' : 'cpu'}`
    let p = this.statics.get(key)
    if (!p) {
      p = this.loadStatic(profile, gpu, signal)
      this.statics.set(key, p)
      // A failure (or abort) is not cached: the next plan tries again.
      p.catch(() => this.statics.delete(key))
    }
    return p
  }

  private async loadStatic(profile: ProfileSpec, gpu: boolean, signal: AbortSignal | undefined): Promise<Static> {
    const log = this.c.logger.child({ profile: profile.id })
    const cpu = this.c.cpuFeatures?.()
    // A model file that is missing or unreadable surfaces at spawn; planning goes on without an estimate.
    const estimate = await estimateProfile(profile, { signal, cache: this.ggufCache, gpu, cpu }).catch((err: unknown) => {
      signal?.throwIfAborted()
      log.debug({ err }, 'no GGUF estimate for this profile')
      return undefined
    })
    const binary = this.c.fitParamsPath?.() ?? null
    let fit: FitParamsResult | undefined
    if (binary && profile.modelPath) {
      fit = await fitParams(binary, ['-m', profile.modelPath, ...profile.args], { signal }).catch((err: unknown) => {
        signal?.throwIfAborted()
        log.debug({ err }, 'llama-fit-params gave no projection for this profile')
        return undefined
      })
    }
    return { estimate, fit }
  }
}
