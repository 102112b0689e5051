/**
 * Which profiles' `model_path` is missing. Checked at start and whenever the cookbook
 * changes (every missing file is reported then, one warning line each), and every
 * `intervalMs` after (only changes are reported: a file that went away, or one that
 * appeared, such as a finished download), so nobody needs to reload for a new file. One
 * `stat` per profile per check; profiles without a `model_path` (`-hf`) are not checked.
 */
import { EventEmitter } from 'node:events'
import { stat } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { ProfileSpec } from './types.ts'

export interface ModelFilesEvents {
  /** The set of profiles whose file is missing changed. */
  'files:changed': []
}

export interface ModelFilesComponents {
  logger: Logger
  /** The profiles in force (the cookbook's, read at each check). */
  profiles: () => Iterable<ProfileSpec>
}

export interface ModelFilesInit {
  /** Between two checks. @default 10000 */
  intervalMs?: number
}

/** Whether a profile's file was there at the last check: `missing_file` when it was not. */
export type ModelFileStatus = 'ok' | 'missing_file'

export class ModelFiles extends EventEmitter<ModelFilesEvents> {
  private readonly c: ModelFilesComponents
  private readonly intervalMs: number
  /** Profile id → the path that was missing. */
  private missingPaths = new Map<string, string>()
  private controller: AbortController | undefined
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined

  constructor(components: ModelFilesComponents, init: ModelFilesInit = {}) {
    super()
    this.c = components
    this.intervalMs = init.intervalMs ?? 10_000
  }

  /** Check once (reporting every missing file), then every intervalMs. Idempotent. */
  async start(): Promise<void> {
    if (this.controller !== undefined) return
    this.controller = new AbortController()
    await this.check({ report: 'all' })
    this.schedule()
  }

  stop(): void {
    this.controller?.abort()
    this.controller = undefined
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** The cookbook changed: check now and report every missing file again. */
  reload(): Promise<void> {
    return this.check({ report: 'all' })
  }

  missing(profileId: string): boolean {
    return this.missingPaths.has(profileId)
  }

  status(profileId: string): ModelFileStatus {
    return this.missing(profileId) ? 'missing_file' : 'ok'
  }

  /** One check; checks asked for while one runs share it. */
  check(o: { report: 'all' | 'changes' }): Promise<void> {
    // A reload that comes in during a periodic check runs after it, so what it reports is current.
    const previous = this.running ?? Promise.resolve()
    const next = previous.then(() => this.run(o.report))
    this.running = next.finally(() => {
      if (this.running === next) this.running = undefined
    })
    return next
  }

  private async run(report: 'all' | 'changes'): Promise<void> {
    const profiles = [...this.c.profiles()].filter((p): p is ProfileSpec & { modelPath: string } => p.modelPath !== undefined)
    const found = await Promise.all(profiles.map((p) => isFile(p.modelPath)))
    const now = new Map<string, string>()
    profiles.forEach((p, i) => {
      if (!found[i]) now.set(p.id, p.modelPath)
    })
    const before = this.missingPaths
    this.missingPaths = now
    for (const [id, path] of now) {
      if (report === 'all' || before.get(id) !== path) this.c.logger.warn({ model: id, path }, `model file not found: ${path}`)
    }
    for (const [id, path] of before) {
      if (!now.has(id) && profiles.some((p) => p.id === id)) this.c.logger.info({ model: id, path }, 'model file found')
    }
    if (before.size !== now.size || [...now].some(([id, path]) => before.get(id) !== path)) this.emit('files:changed')
  }

  private schedule(): void {
    const signal = this.controller?.signal
    if (signal === undefined || signal.aborted) return
    this.timer = setTimeout(() => {
      void this.check({ report: 'changes' })
        .catch((err: unknown) => this.c.logger.warn({ err }, 'model file check failed'))
        .finally(() => this.schedule())
    }, this.intervalMs)
  }
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  )
}
