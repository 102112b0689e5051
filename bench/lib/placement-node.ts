/**
 * One simulated herd node: its pools, its memory, and the admission check of
 * src/hardware/admission.ts over the real planner (planFit: fits now / after evicting idle
 * instances LRU-first / none). Its gossiped ModelStates are built by the real
 * src/router/local-state.ts from the pools' load and planFit's answers, as the daemon does.
 */
import type { Cookbook, ProfileSpec } from '../../src/config/types.ts'
import {
  parseLaunchArgs,
  planFit,
  resolveRequirement,
  resourceState,
  type FitPlan,
  type HeldInstance,
  type Placement,
  type Requirement,
} from '../../src/hardware/index.ts'
import type { GpuState, ModelState, NodeState, ResourceState } from '../../src/mesh/types.ts'
import { localModels } from '../../src/router/local-state.ts'
import type { FitAnswer } from '../../src/hardware/index.ts'
import type { Clock } from './placement-clock.ts'
import { SimPool, type PoolHost, type SimInstance } from './placement-pool.ts'
import { coldStartMs, MODELS, OS_SYSMEM_MB, profileSpec, tokensPerSecond, type Knobs, type ModelSpec, type NodeSpec } from './placement-scenario.ts'

const LIMITS = { maxVramMb: null, maxSysmemMb: null }
/** How often a blocked admission looks again (src/hardware/admission.ts pollMs). */
const ADMISSION_POLL_MS = 250

export interface NodeStats {
  coldStarts: number
  evictions: number
  idleStops: number
  /** Cold starts refused: can never fit here / still no room when the queue wait ran out. */
  spawnsNeverFit: number
  spawnsTimedOut: number
}

/** Planner behaviour under test; the defaults are what src/ does today. */
export interface NodeOptions {
  /**
   * EXPERIMENT (src/hardware/planner.ts): plan a profile's cold start with its own instances
   * marked busy, since admission never evicts them (evictIdle's exceptProfileId).
   */
  ownInstancesNotEvictable?: boolean
}

export class SimNode implements PoolHost {
  readonly spec: NodeSpec
  readonly clock: Clock
  readonly pools = new Map<string, SimPool>()
  readonly stats: NodeStats = { coldStarts: 0, evictions: 0, idleStops: 0, spawnsNeverFit: 0, spawnsTimedOut: 0 }
  private readonly cookbook: Cookbook
  private readonly onChange: (node: SimNode) => void
  private readonly requirements = new Map<string, Requirement>()
  private readonly options: NodeOptions
  private seq = 0

  constructor(spec: NodeSpec, clock: Clock, knobs: Knobs, onChange: (node: SimNode) => void, options: NodeOptions = {}) {
    this.spec = spec
    this.options = options
    this.clock = clock
    this.onChange = onChange
    const profiles = new Map<string, ProfileSpec>()
    for (const m of MODELS.filter((x) => spec.cookbook.includes(x.name))) {
      const p = profileSpec(m, knobs)
      profiles.set(p.id, p)
      this.pools.set(p.id, new SimPool(p, this))
    }
    this.cookbook = { profiles, names: new Map([...profiles.values()].map((p) => [p.model, p.id])), defaultModel: undefined, sources: [] }
  }

  serves(profileId: string): boolean {
    return this.pools.has(profileId)
  }

  /** Live ModelStates, as this node scores itself and gossips. */
  models(): ModelState[] {
    return localModels({
      name: this.spec.name,
      herdVersion: 'sim',
      llamaVersion: () => null,
      startedAt: 0,
      draining: () => false,
      cookbook: () => this.cookbook,
      load: () => [...this.pools.values()].map((p) => p.load()),
      resources: () => this.resources(),
      fit: (p) => this.fit(p),
    })
  }

  resources(): ResourceState {
    return resourceState({ gpus: this.gpuStates(), sysmem: this.sysmem(), limits: LIMITS, held: this.held() })
  }

  /** A new gossip version of this node's state. */
  state(): NodeState {
    return {
      id: this.spec.name,
      name: this.spec.name,
      herdVersion: 'sim',
      llamaVersion: null,
      startedAt: 0,
      seq: ++this.seq,
      status: 'ready',
      resources: this.resources(),
      models: this.models(),
      peers: [],
    }
  }

  admit(inst: SimInstance): void {
    const deadline = this.clock.now + inst.pool.spec.maxWaitInQueueMs
    this.clock.after(0, () => this.admission(inst, deadline))
  }

  /** src/hardware/admission.ts: place now; evict the named idle instances and plan again; wait for busy ones; or no_capacity. */
  private admission(inst: SimInstance, deadline: number): void {
    for (;;) {
      const plan = this.plan(inst.pool.spec)
      if (plan.fit === 'now') {
        this.place(inst, plan.placement)
        this.stats.coldStarts++
        inst.pool.started(inst)
        return
      }
      if (plan.fit === 'after-eviction') {
        let evicted = 0
        for (const id of plan.evict) {
          const victim = this.instances().find((i) => i.id === id && i.pool !== inst.pool && i.status === 'ready' && i.busy === 0)
          if (!victim) continue
          victim.pool.evict(victim)
          evicted++
        }
        if (evicted > 0 || plan.evict.length === 0) continue
      }
      const never = plan.fit === 'none' && !plan.wouldFitEmpty
      if (never || this.clock.now >= deadline) {
        this.stats[never ? 'spawnsNeverFit' : 'spawnsTimedOut']++
        inst.pool.spawnFailed(inst, 'no_capacity')
        return
      }
      this.clock.after(ADMISSION_POLL_MS, () => this.admission(inst, deadline))
      return
    }
  }

  stopped(_inst: SimInstance, why: 'idle' | 'evicted'): void {
    if (why === 'evicted') this.stats.evictions++
    else this.stats.idleStops++
  }

  tokensPerSecond(spec: ProfileSpec): number {
    return tokensPerSecond(this.spec, this.model(spec))
  }

  coldStartMs(spec: ProfileSpec): number {
    return coldStartMs(this.model(spec))
  }

  changed(): void {
    this.onChange(this)
  }

  private model(spec: ProfileSpec): ModelSpec {
    return MODELS.find((m) => m.name === spec.model) as ModelSpec
  }

  private fit(p: ProfileSpec): FitAnswer {
    const plan = this.plan(p)
    const req = this.requirement(p)
    return { now: plan.fit === 'now', afterEviction: plan.fit !== 'none', vramMb: req.vramMb || null, sysmemMb: req.sysmemMb || null }
  }

  private plan(p: ProfileSpec): FitPlan {
    const own = new Set(this.pools.get(p.id)?.instances.map((i) => i.id))
    const held = this.options.ownInstancesNotEvictable ? this.held().map((h) => (own.has(h.instanceId) ? { ...h, idle: false } : h)) : this.held()
    return planFit({ gpus: this.gpuStates(), sysmem: this.sysmem(), limits: LIMITS, held, requirement: this.requirement(p), launch: parseLaunchArgs(p.args) })
  }

  private requirement(p: ProfileSpec): Requirement {
    let r = this.requirements.get(p.id)
    if (!r) {
      r = resolveRequirement({ cookbook: { estimatedVramMb: p.estimatedVramMb, estimatedSysmemMb: p.estimatedSysmemMb } }, { gpu: this.spec.gpusMb.length > 0 })
      this.requirements.set(p.id, r)
    }
    return r
  }

  /** Memory follows the placement: a `--tensor-split` in its proportions, else evenly over its GPUs. */
  private place(inst: SimInstance, placement: Placement): void {
    const req = this.requirement(inst.pool.spec)
    inst.vramMb = placement.kind === 'gpu' ? req.vramMb : 0
    inst.sysmemMb = req.sysmemMb
    inst.gpus = placement.kind === 'gpu' ? placement.gpus : []
    const at = placement.args.indexOf('--tensor-split')
    const shares = at >= 0 ? (placement.args[at + 1] ?? '').split(',').map(Number) : inst.gpus.map(() => 1)
    const sum = shares.reduce((a, b) => a + b, 0) || 1
    inst.gpus.forEach((g, k) => inst.gpuUse.set(g, (req.vramMb * (shares[k] ?? 0)) / sum))
    // The planner must never place past physical memory; if it did, the numbers above would be fiction.
    if (this.gpuStates().some((g) => g.freeMb < 0) || this.sysmem().freeMb < 0) throw new Error(`${this.spec.name}: ${inst.id} placed past physical memory`)
  }

  private instances(): SimInstance[] {
    return [...this.pools.values()].flatMap((p) => p.instances)
  }

  /** What herd's instances hold, as NodeResources.held() reports it (admitting ones hold nothing yet). */
  private held(): HeldInstance[] {
    return this.instances()
      .filter((i) => i.status !== 'admitting')
      .map((i) => ({
        instanceId: i.id,
        gpus: i.gpus,
        vramMb: i.vramMb,
        sysmemMb: i.sysmemMb,
        idle: i.status === 'ready' && i.busy === 0,
        lastUsedAt: i.lastUsedAt,
      }))
  }

  private gpuStates(): GpuState[] {
    const all = this.instances()
    return this.spec.gpusMb.map((totalMb, index) => {
      const usedMb = Math.ceil(all.reduce((a, i) => a + (i.gpuUse.get(index) ?? 0), 0))
      return { index, uuid: `GPU-${this.spec.name}-${index}`, name: this.spec.name, totalMb, usedMb, freeMb: totalMb - usedMb }
    })
  }

  private sysmem(): { totalMb: number; freeMb: number } {
    const held = this.instances().reduce((a, i) => a + i.sysmemMb, 0)
    return { totalMb: this.spec.sysmemMb, freeMb: this.spec.sysmemMb - OS_SYSMEM_MB - held }
  }
}
