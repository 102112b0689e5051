/**
 * What instances really used, by launch hash: the peak VRAM and resident memory sampled
 * while they ran. Measured figures beat every estimate, so they are kept across restarts in
 * `<home>/state.json` under `learnedMemory` (other top-level keys are left as found), written
 * to a temp file and renamed so a crash mid-write never leaves half a file.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'

export interface LearnedEntry {
  /** Peak VRAM (MiB) across runs; null when no GPU usage was ever seen for it. */
  vramMb: number | null
  /** Peak resident memory (MiB) across runs. */
  rssMb: number
  /** `model:profile` it was last seen as (for people reading the file). */
  profileId: string | undefined
  samples: number
  updatedAt: number
}

export interface LearnedMemoryInit {
  /** HERD_HOME. */
  home: string
  /** File name inside home. @default 'state.json' */
  file?: string
  /** Changes are written at most this often. @default 2000 */
  saveDebounceMs?: number
}

export class LearnedMemory {
  private readonly logger: Logger
  private readonly path: string
  private readonly debounceMs: number
  private entries = new Map<string, LearnedEntry>()
  private controller: AbortController | undefined
  private timer: NodeJS.Timeout | undefined
  private dirty = false
  private writing: Promise<void> = Promise.resolve()

  constructor(components: { logger: Logger }, init: LearnedMemoryInit) {
    this.logger = components.logger
    this.path = join(init.home, init.file ?? 'state.json')
    this.debounceMs = init.saveDebounceMs ?? 2000
  }

  /** Loads the file. A missing file is an empty store; an unreadable one is logged and ignored. */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.controller) return
    this.controller = new AbortController()
    const doc = await this.readDoc(options.signal)
    const raw = doc.learnedMemory
    this.entries = new Map()
    if (raw && typeof raw === 'object') {
      for (const [hash, v] of Object.entries(raw as Record<string, unknown>)) {
        const e = toEntry(v)
        if (e) this.entries.set(hash, e)
      }
    }
  }

  /** Writes pending changes and stops the save timer. */
  async stop(): Promise<void> {
    if (!this.controller) return
    this.controller.abort()
    this.controller = undefined
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.dirty) await this.save()
    await this.writing
  }

  get(launchHash: string): LearnedEntry | undefined {
    return this.entries.get(launchHash)
  }

  all(): ReadonlyMap<string, LearnedEntry> {
    return this.entries
  }

  /**
   * Folds one sample into the peak for this launch. Returns whether a peak rose (then a save
   * is scheduled). A vram of null (no per-process GPU figure) leaves the VRAM peak alone.
   */
  record(launchHash: string, sample: { vramMb: number | null; rssMb: number }, profileId?: string): boolean {
    const prev = this.entries.get(launchHash)
    const vramMb = maxNullable(prev?.vramMb ?? null, sample.vramMb)
    const rssMb = Math.max(prev?.rssMb ?? 0, sample.rssMb)
    const rose = !prev || vramMb !== prev.vramMb || rssMb !== prev.rssMb
    this.entries.set(launchHash, {
      vramMb,
      rssMb,
      profileId: profileId ?? prev?.profileId,
      samples: (prev?.samples ?? 0) + 1,
      updatedAt: rose ? Date.now() : (prev?.updatedAt ?? Date.now()),
    })
    if (rose) this.scheduleSave()
    return rose
  }

  /** Writes the store now (temp file + rename), keeping other keys of state.json. */
  async save(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.dirty = false
    const run = async (): Promise<void> => {
      const doc = await this.readDoc(options.signal)
      doc.learnedMemory = Object.fromEntries(this.entries)
      await mkdir(join(this.path, '..'), { recursive: true })
      const tmp = `${this.path}.${process.pid}.tmp`
      await writeFile(tmp, JSON.stringify(doc, null, 2) + '\n', { signal: options.signal })
      await rename(tmp, this.path)
    }
    // One write at a time: a second save waits for the first so renames never interleave.
    this.writing = this.writing.then(run, run)
    try {
      await this.writing
    } catch (err: unknown) {
      this.dirty = true
      throw err
    }
  }

  private scheduleSave(): void {
    this.dirty = true
    if (!this.controller || this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.save().catch((err: unknown) => this.logger.warn({ err, path: this.path }, 'could not save learned memory'))
    }, this.debounceMs)
    this.timer.unref()
  }

  private async readDoc(signal?: AbortSignal): Promise<Record<string, unknown>> {
    let text: string
    try {
      text = await readFile(this.path, { encoding: 'utf8', signal })
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
      throw err
    }
    try {
      const doc: unknown = JSON.parse(text)
      if (doc && typeof doc === 'object' && !Array.isArray(doc)) return doc as Record<string, unknown>
    } catch (err: unknown) {
      this.logger.warn({ err, path: this.path }, 'state file is not JSON: starting with no learned memory')
    }
    return {}
  }
}

function maxNullable(a: number | null, b: number | null): number | null {
  if (a === null) return b
  if (b === null) return a
  return Math.max(a, b)
}

function toEntry(v: unknown): LearnedEntry | undefined {
  if (!v || typeof v !== 'object') return undefined
  const o = v as Record<string, unknown>
  if (typeof o.rssMb !== 'number') return undefined
  return {
    vramMb: typeof o.vramMb === 'number' ? o.vramMb : null,
    rssMb: o.rssMb,
    profileId: typeof o.profileId === 'string' ? o.profileId : undefined,
    samples: typeof o.samples === 'number' ? o.samples : 1,
    updatedAt: typeof o.updatedAt === 'number' ? o.updatedAt : 0,
  }
}
