/**
 * Hot reload of the cookbook. The folder holding it is watched rather than the file itself,
 * because editors save by writing a temp file and renaming it over the old one, which ends
 * a watch on the file's inode. Events are debounced; a bad edit is logged and ignored, so
 * the cookbook in force is always one that loaded cleanly.
 */
import { EventEmitter } from 'node:events'
import { watch, type FSWatcher } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import type { Logger } from 'pino'
import { HerdError } from '../errors/index.ts'
import { loadCookbook } from './cookbook.ts'
import type { Cookbook } from './types.ts'

export interface CookbookWatcherEvents {
  /** A reload succeeded and changed something. */
  'cookbook:changed': [cookbook: Cookbook]
  /** A reload failed; the previous cookbook stays in force. */
  'cookbook:invalid': [error: HerdError]
}

export interface CookbookWatcherInit {
  /** Cookbook file or folder (as in Config.cookbook). */
  path: string
  logger: Logger
  /** The cookbook already loaded from `path`; when absent, start() loads it (and throws if invalid). */
  initial?: Cookbook
  /** Quiet time after the last file event before reloading. Default 100 ms. */
  debounceMs?: number
  /** Where backends' `api_key_env` are read. Default: process.env. */
  env?: NodeJS.ProcessEnv
}

/** Compares cookbooks by content, so a save that changes nothing emits nothing. */
function fingerprint(cb: Cookbook): string {
  // Secrets print as [redacted]: a rotated key alone is not a change (a restart reads it).
  return JSON.stringify([[...cb.profiles.values()], [...cb.names], [...(cb.aliases ?? [])], cb.defaultModel, cb.sources, cb.backends ?? []])
}

export class CookbookWatcher extends EventEmitter<CookbookWatcherEvents> {
  private readonly path: string
  private readonly logger: Logger
  private readonly debounceMs: number
  private readonly env: NodeJS.ProcessEnv | undefined
  private cookbook: Cookbook | undefined
  private controller: AbortController | undefined
  private watcher: FSWatcher | undefined
  private timer: NodeJS.Timeout | undefined
  private reloading: Promise<void> | undefined
  private again = false

  constructor(init: CookbookWatcherInit) {
    super()
    this.path = resolve(init.path)
    this.logger = init.logger
    this.debounceMs = init.debounceMs ?? 100
    this.env = init.env
    this.cookbook = init.initial
  }

  /** The cookbook in force. Throws before a successful start() when no initial one was given. */
  get current(): Cookbook {
    if (this.cookbook === undefined) throw new HerdError('internal', 'cookbook watcher not started')
    return this.cookbook
  }

  async start(): Promise<void> {
    if (this.controller !== undefined) return
    const controller = new AbortController()
    this.controller = controller
    try {
      const isDir = (await stat(this.path).catch(() => undefined))?.isDirectory() ?? false
      const dir = isDir ? this.path : dirname(this.path)
      const name = isDir ? undefined : basename(this.path)
      // Watching before the first load means an edit racing start() is not missed.
      this.watcher = watch(dir, { signal: controller.signal }, (_event, filename) => {
        if (name !== undefined && filename !== null && filename !== name) return
        if (name === undefined && filename !== null && !/\.ya?ml$/i.test(filename)) return
        this.schedule()
      })
      this.watcher.on('error', (err: unknown) => this.logger.error({ err, dir }, 'cookbook watch failed'))
      controller.signal.addEventListener('abort', () => clearTimeout(this.timer), { once: true })
      this.cookbook ??= await loadCookbook(this.path, this.loadOptions())
    } catch (err: unknown) {
      await this.stop()
      if (err instanceof HerdError) throw err
      throw new HerdError('config_invalid', `${this.path}: cannot watch cookbook: ${String(err)}`, { cause: err })
    }
  }

  async stop(): Promise<void> {
    const controller = this.controller
    if (controller === undefined) return
    this.controller = undefined
    controller.abort()
    this.watcher?.close()
    this.watcher = undefined
    await this.reloading
  }

  /** Reloads now (also used for SIGHUP). Resolves once the reload and any queued one are done. */
  reload(): Promise<void> {
    if (this.reloading !== undefined) {
      this.again = true
      return this.reloading
    }
    this.reloading = this.runReloads().finally(() => {
      this.reloading = undefined
    })
    return this.reloading
  }

  private loadOptions(): { logger: Logger; env?: NodeJS.ProcessEnv } {
    return this.env === undefined ? { logger: this.logger } : { logger: this.logger, env: this.env }
  }

  private schedule(): void {
    if (this.controller === undefined) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.reload(), this.debounceMs)
  }

  private async runReloads(): Promise<void> {
    do {
      this.again = false
      await this.reloadOnce()
    } while (this.again && this.controller !== undefined)
  }

  private async reloadOnce(): Promise<void> {
    try {
      const next = await loadCookbook(this.path, this.loadOptions())
      if (this.controller === undefined) return
      if (this.cookbook !== undefined && fingerprint(next) === fingerprint(this.cookbook)) {
        this.logger.debug({ cookbook: this.path }, 'cookbook unchanged')
        return
      }
      this.cookbook = next
      this.logger.info({ cookbook: this.path, profiles: next.profiles.size }, 'cookbook reloaded')
      this.emit('cookbook:changed', next)
    } catch (err: unknown) {
      if (this.controller === undefined) return
      const error = err instanceof HerdError ? err : new HerdError('config_invalid', `${this.path}: ${String(err)}`, { cause: err })
      this.logger.error({ cookbook: this.path }, `cookbook not reloaded, keeping the previous one: ${error.message}`)
      this.emit('cookbook:invalid', error)
    }
  }
}
