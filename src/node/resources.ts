/**
 * This node's memory picture for gossip and scoring. Until the hardware component lands
 * this reads /proc/meminfo itself and treats every profile as fitting.
 */
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import type { Config, ProfileSpec } from '../config/index.ts'
import type { ResourceState } from '../mesh/types.ts'
import type { FitAnswer } from './local-state.ts'

export class NodeResources {
  private readonly logger: Logger
  private readonly limits: Config['resources']

  constructor(components: { logger: Logger }, limits: Config['resources']) {
    this.logger = components.logger
    this.limits = limits
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  state(): ResourceState {
    const mem = meminfo()
    const budget = this.limits.max_sysmem_mb === null ? mem.freeMb : Math.min(mem.freeMb, this.limits.max_sysmem_mb)
    return { gpus: [], sysmem: mem, vramBudgetFreeMb: null, sysmemBudgetFreeMb: budget }
  }

  freeMemoryMb(): number | null {
    return this.state().sysmemBudgetFreeMb
  }

  fit(profile: ProfileSpec): FitAnswer {
    return { now: true, afterEviction: true, vramMb: profile.estimatedVramMb ?? null, sysmemMb: profile.estimatedSysmemMb ?? null }
  }
}

function meminfo(): { totalMb: number; freeMb: number } {
  try {
    const text = readFileSync('/proc/meminfo', 'utf8')
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0)
    return { totalMb: Math.round(kb('MemTotal') / 1024), freeMb: Math.round(kb('MemAvailable') / 1024) }
  } catch {
    return { totalMb: 0, freeMb: 0 }
  }
}
