/**
 * GPU telemetry from `nvidia-smi` CSV queries. A missing binary means a CPU-only node (said
 * once, at debug); a binary that fails or prints garbage means no GPUs for that round plus
 * one warning until it recovers, so a flaky driver neither crashes the daemon nor floods the log.
 */
import { execFile } from 'node:child_process'
import type { Logger } from 'pino'
import type { GpuState } from '../mesh/types.ts'

export const GPU_QUERY = ['--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu', '--format=csv,noheader,nounits']
export const APPS_QUERY = ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits']

export interface GpuSample extends GpuState {
  /** Percent, or null where the driver says [N/A] / [Not Supported]. */
  utilization: number | null
}

export interface SmiSample {
  gpus: GpuSample[]
  /** VRAM per process (MiB), summed over GPUs. */
  apps: Map<number, number>
}

/** A CSV field as a number; null for `[N/A]`, `[Not Supported]`, `N/A`, blanks and junk. */
function field(v: string | undefined): number | null {
  const s = (v ?? '').trim()
  if (s === '' || s.startsWith('[') || /^n\/?a$/i.test(s)) return null
  const n = Number(s)
  return Number.isFinite(n) ? n : null
}

/**
 * Parses `--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu` output.
 * A GPU whose total memory is unknown is left out (nothing can be planned on it); an
 * unknown used figure counts as full, since planning on a guess risks an out-of-memory.
 */
export function parseGpuCsv(text: string): GpuSample[] {
  const gpus: GpuSample[] = []
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue
    const cols = line.split(',').map((c) => c.trim())
    if (cols.length < 6) continue
    // GPU names may contain commas; the name is everything between uuid and the last three.
    const [indexText, uuid = ''] = cols
    const tail = cols.slice(-3)
    const name = cols.slice(2, -3).join(', ')
    const index = field(indexText)
    const totalMb = field(tail[0])
    if (index === null || totalMb === null) continue
    const usedMb = field(tail[1]) ?? totalMb
    gpus.push({ index, uuid, name, totalMb, usedMb, freeMb: Math.max(0, totalMb - usedMb), utilization: field(tail[2]) })
  }
  return gpus
}

/** Parses `--query-compute-apps=pid,used_memory`; a pid on several GPUs is summed. */
export function parseAppsCsv(text: string): Map<number, number> {
  const apps = new Map<number, number>()
  for (const line of text.split(/\r?\n/)) {
    const [pidText, memText] = line.split(',')
    const pid = field(pidText)
    const mb = field(memText)
    if (pid === null || mb === null) continue
    apps.set(pid, (apps.get(pid) ?? 0) + mb)
  }
  return apps
}

export interface NvidiaSmiInit {
  /** Binary name or path (config `resources.nvidia_smi`). */
  path?: string
  timeoutMs?: number
}

/** Runs the two queries. `null` means no GPU telemetry this round (absent binary or failure). */
export class NvidiaSmi {
  private readonly path: string
  private readonly timeoutMs: number
  private readonly logger: Logger
  /** `absent` once the binary is known not to exist: stop trying every interval. */
  private state: 'unknown' | 'ok' | 'failing' | 'absent' = 'unknown'
  /** The last answer listed GPUs: query processes first (see sample). */
  private hadGpus = false

  constructor(components: { logger: Logger }, init: NvidiaSmiInit = {}) {
    this.logger = components.logger
    this.path = init.path ?? 'nvidia-smi'
    this.timeoutMs = init.timeoutMs ?? 10_000
  }

  /** Whether the binary was found missing (a CPU-only node). */
  get absent(): boolean {
    return this.state === 'absent'
  }

  async sample(options: { signal?: AbortSignal } = {}): Promise<SmiSample | null> {
    if (this.state === 'absent') return null
    try {
      // Processes before devices (once there are GPUs): the two queries are not one snapshot,
      // and a llama-server that starts or grows in between must show in the devices' used
      // memory rather than only as measured, or admission would count its memory zero times
      // (measured, so no longer reserved, yet not in `used`). This way round it counts twice.
      const appsFirst = this.hadGpus ? await this.run(APPS_QUERY, options.signal) : undefined
      const text = await this.run(GPU_QUERY, options.signal)
      const gpus = parseGpuCsv(text)
      if (gpus.length === 0 && text.trim() !== '') throw new Error(`unreadable output: ${JSON.stringify(text.slice(0, 120))}`)
      const appsText = gpus.length === 0 ? '' : (appsFirst ?? (await this.run(APPS_QUERY, options.signal)))
      this.hadGpus = gpus.length > 0
      if (this.state === 'failing') this.logger.info('nvidia-smi answers again')
      this.state = 'ok'
      return { gpus, apps: parseAppsCsv(appsText) }
    } catch (err: unknown) {
      if (options.signal?.aborted) throw err
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.state = 'absent'
        this.logger.debug({ path: this.path }, 'nvidia-smi not found: no GPU telemetry, CPU-only node')
        return null
      }
      if (this.state !== 'failing') this.logger.warn({ err, path: this.path }, 'nvidia-smi failed: reporting no GPUs until it answers')
      this.state = 'failing'
      return null
    }
  }

  private run(args: readonly string[], signal: AbortSignal | undefined): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.path, args, { signal, timeout: this.timeoutMs, maxBuffer: 1 << 20 }, (err, stdout) => {
        if (err) reject(err)
        else resolve(String(stdout))
      })
    })
  }
}
