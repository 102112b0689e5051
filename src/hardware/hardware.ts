/**
 * The hardware component: samples GPUs (nvidia-smi), system memory and the memory of the
 * llama-server processes herd started, keeps the latest snapshot, emits
 * `resources:changed` when it moved, and folds the samples of watched processes into
 * learned memory. Free memory is always total − used, whoever uses it.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { GpuState } from '../mesh/types.ts'
import { readCpuFeatures, type CpuFeatures } from './cpu-features.ts'
import type { LearnedMemory } from './learned-memory.ts'
import { NvidiaSmi } from './nvidia-smi.ts'
import { readProcMem, readSysMem, type SysMem } from './proc.ts'

export interface ProcessUsage {
  /** VRAM from nvidia-smi's compute apps; null when the GPU does not list the pid. */
  vramMb: number | null
  rssMb: number
  hwmMb: number
}

export interface HardwareSnapshot {
  gpus: GpuState[]
  sysmem: SysMem
  /** Watched processes (herd's llama-servers) by pid. */
  processes: Map<number, ProcessUsage>
  /** Whether GPU telemetry exists (false on a CPU-only node). */
  gpuTelemetry: boolean
  sampledAt: number
  /** When this sample's readings began (a process measured in it was measured no earlier). Default: sampledAt. */
  startedAt?: number
}

export interface HardwareEvents {
  'resources:changed': [HardwareSnapshot]
}

export interface HardwareComponents {
  logger: Logger
  /** Where watched processes' peaks go; absent: nothing is learned. */
  learned?: LearnedMemory
}

export interface HardwareInit {
  /** nvidia-smi binary (config `resources.nvidia_smi`). @default 'nvidia-smi' */
  nvidiaSmi?: string
  /** @default 3000 */
  sampleIntervalMs?: number
  /** For tests. @default '/proc' */
  procRoot?: string
  /** System memory moves all the time; smaller changes than this do not count as a change. @default 64 */
  sysmemChangeMb?: number
  /** What the llama-server build can use, when not what `procRoot`/cpuinfo says. @default read at start */
  cpuFeatures?: CpuFeatures
}

interface Watched {
  launchHash: string
  profileId: string | undefined
}

export class Hardware extends EventEmitter<HardwareEvents> {
  private readonly logger: Logger
  private readonly learned: LearnedMemory | undefined
  private readonly smi: NvidiaSmi
  private readonly intervalMs: number
  private readonly procRoot: string
  private readonly sysmemChangeMb: number
  private cpu: CpuFeatures | undefined
  private readonly watched = new Map<number, Watched>()
  private current: HardwareSnapshot = { gpus: [], sysmem: { totalMb: 0, freeMb: 0 }, processes: new Map(), gpuTelemetry: false, sampledAt: 0 }
  private controller: AbortController | undefined
  private timer: NodeJS.Timeout | undefined
  private sampling: Promise<HardwareSnapshot> | undefined

  constructor(components: HardwareComponents, init: HardwareInit = {}) {
    super()
    this.logger = components.logger
    this.learned = components.learned
    this.smi = new NvidiaSmi({ logger: this.logger }, { path: init.nvidiaSmi })
    this.intervalMs = init.sampleIntervalMs ?? 3000
    this.procRoot = init.procRoot ?? '/proc'
    this.sysmemChangeMb = init.sysmemChangeMb ?? 64
    this.cpu = init.cpuFeatures
  }

  /** Takes a first sample (so snapshot() is real once start resolves), then samples on the interval. */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.controller) return
    const controller = new AbortController()
    this.controller = controller
    try {
      this.cpu ??= await readCpuFeatures(this.procRoot).catch((err: unknown) => {
        // Without them only the extra weight buffers go uncounted; not a reason to stop.
        this.logger.warn({ err }, 'could not read the CPU features')
        return undefined
      })
      await this.sample({ signal: options.signal })
    } catch (err: unknown) {
      this.controller = undefined
      throw err
    }
    this.schedule(controller)
  }

  async stop(): Promise<void> {
    if (!this.controller) return
    this.controller.abort()
    this.controller = undefined
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    await this.sampling?.catch(() => undefined)
  }

  /** The latest sample. */
  snapshot(): HardwareSnapshot {
    return this.current
  }

  /** This node's CPU features (read once, at start); undefined before start or off Linux. */
  cpuFeatures(): CpuFeatures | undefined {
    return this.cpu
  }

  /** Starts learning the memory of a ready llama-server process. */
  watchProcess(pid: number, launchHash: string, profileId?: string): void {
    this.watched.set(pid, { launchHash, profileId })
  }

  unwatchProcess(pid: number): void {
    this.watched.delete(pid)
  }

  /** Samples now (one round at a time: a call during a round shares it). */
  sample(options: { signal?: AbortSignal } = {}): Promise<HardwareSnapshot> {
    this.sampling ??= this.takeSample(options.signal).finally(() => {
      this.sampling = undefined
    })
    return this.sampling
  }

  private schedule(controller: AbortController): void {
    if (controller.signal.aborted) return
    this.timer = setTimeout(() => {
      this.sample({ signal: controller.signal })
        .catch((err: unknown) => {
          if (!controller.signal.aborted) this.logger.warn({ err }, 'hardware sample failed')
        })
        .finally(() => this.schedule(controller))
    }, this.intervalMs)
    this.timer.unref()
  }

  private async takeSample(signal: AbortSignal | undefined): Promise<HardwareSnapshot> {
    const startedAt = Date.now()
    const [smi, sysmem] = await Promise.all([this.smi.sample({ signal }), readSysMem(this.procRoot)])
    const processes = new Map<number, ProcessUsage>()
    for (const [pid, w] of this.watched) {
      const mem = await readProcMem(pid, this.procRoot)
      if (!mem) continue
      const vramMb = smi?.apps.get(pid) ?? null
      processes.set(pid, { vramMb, rssMb: mem.rssMb, hwmMb: mem.hwmMb })
      // Sampled RSS, not VmHWM: loading touches every mmap'd page of weights that then
      // move to the GPU, so the kernel's high-water mark overstates what a running server holds.
      this.learned?.record(w.launchHash, { vramMb: smi && smi.gpus.length > 0 ? vramMb : null, rssMb: mem.rssMb }, w.profileId)
    }
    signal?.throwIfAborted()
    const next: HardwareSnapshot = {
      gpus: (smi?.gpus ?? []).map(({ index, uuid, name, totalMb, usedMb, freeMb }) => ({ index, uuid, name, totalMb, usedMb, freeMb })),
      sysmem: sysmem ?? { totalMb: 0, freeMb: 0 },
      processes,
      gpuTelemetry: smi !== null && smi.gpus.length > 0,
      sampledAt: Date.now(),
      startedAt,
    }
    const changed = this.changed(this.current, next)
    this.current = next
    if (changed) this.emit('resources:changed', next)
    return next
  }

  private changed(a: HardwareSnapshot, b: HardwareSnapshot): boolean {
    if (a.sampledAt === 0) return true
    if (a.gpus.length !== b.gpus.length) return true
    for (let i = 0; i < a.gpus.length; i++) {
      const x = a.gpus[i]
      const y = b.gpus[i]
      if (!x || !y || x.uuid !== y.uuid || x.usedMb !== y.usedMb || x.totalMb !== y.totalMb) return true
    }
    if (Math.abs(a.sysmem.freeMb - b.sysmem.freeMb) >= this.sysmemChangeMb || a.sysmem.totalMb !== b.sysmem.totalMb) return true
    if (a.processes.size !== b.processes.size) return true
    for (const [pid, u] of b.processes) {
      const p = a.processes.get(pid)
      if (!p || p.vramMb !== u.vramMb) return true
    }
    return false
  }
}
