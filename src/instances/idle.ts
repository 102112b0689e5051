/** One idle timer per instance: armed when its last lease comes back, cancelled by the next lease. */
import type { Instance } from './instance.ts'

export class IdleTimers {
  private readonly timers = new Map<Instance, NodeJS.Timeout>()
  private readonly onIdle: (inst: Instance) => void

  constructor(onIdle: (inst: Instance) => void) {
    this.onIdle = onIdle
  }

  /** Start (or restart) the countdown; 0 means "never stop for idleness". */
  arm(inst: Instance, ms: number): void {
    this.cancel(inst)
    if (ms <= 0) return
    const timer = setTimeout(() => {
      this.timers.delete(inst)
      if (inst.busy === 0 && inst.state.status === 'ready') this.onIdle(inst)
    }, ms)
    // An idle countdown alone must not keep the daemon's event loop alive.
    timer.unref()
    this.timers.set(inst, timer)
  }

  cancel(inst: Instance): void {
    const t = this.timers.get(inst)
    if (t !== undefined) clearTimeout(t)
    this.timers.delete(inst)
  }

  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }
}
