/**
 * The models found under `model_dirs`. Scans at start, again soon after the file system
 * says something changed under a folder (a recursive fs.watch, debounced), and every
 * `rescanMs` in any case: the watch does not follow symbolic links, can run out of inotify
 * watches, and is not there for a folder that did not exist yet. Each scan re-reads only
 * headers whose file changed (size or mtime), warns once about each bad file (truncated,
 * not GGUF, unreadable) until it changes, and emits `inventory:changed` when the set of
 * models, or how one would be launched, changed.
 */
import { EventEmitter } from 'node:events'
import { watch, type FSWatcher } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import type { Logger } from 'pino'
import { backendNames, defaultProfile, type Cookbook, type ProfileSpec } from '../config/index.ts'
import { ggufInfo, readGgufFile, tensorDataBytes, type GgufFile, type GgufInfo } from '../hardware/index.ts'
import { DEFAULT_DEBOUNCE_MS, DEFAULT_RESCAN_MS, MAX_DISCOVERED_MODELS } from './constants.ts'
import { estimateFor, fitContext, type NodeBudget } from './context.ts'
import { factsOf, type GgufFacts } from './facts.ts'
import { groupFiles, type ModelGroup, type ReadGguf } from './group.ts'
import { assignNames } from './names.ts'
import { scanModelDirs, type FoundFile, type ScanLimits } from './scan.ts'

/** A model herd found in `model_dirs`, as it will be served. */
export interface DiscoveredModel {
  readonly name: string
  /** `name:default`, launched with the first file, `-c` sized to the node, `--mmproj` when a projector is attached. */
  readonly spec: ProfileSpec
  readonly facts: GgufFacts
  /** The context chosen for it (`-c`). */
  readonly context: number
  /** herd's estimate for this launch on this node, MiB. */
  readonly estimate: MemoryFigures
}

/** MiB of VRAM (0 on a CPU node) and system memory. */
export interface MemoryFigures {
  readonly vramMb: number
  readonly sysmemMb: number
}

/** What the inventory knows of one local profile's file. */
export interface InventoryItem {
  readonly source: 'cookbook' | 'model_dirs'
  readonly facts: GgufFacts
  /** The `-c` herd chose (model_dirs models only). */
  readonly context: number | undefined
  /** herd's GGUF estimate for the profile's launch, MiB; undefined when it cannot be made. */
  readonly estimate: MemoryFigures | undefined
}

export interface ModelInventoryEvents {
  /** The discovered models changed (added, removed, renamed or launched differently). */
  'inventory:changed': []
}

export interface ModelInventoryComponents {
  logger: Logger
  /** What one model may take on this node (context sizing). */
  budget: () => NodeBudget
  /** The cookbook as its files define it: its names win, and a file it names is not added a second time. */
  cookbook: () => Cookbook
}

export interface ModelInventoryInit {
  /** Absolute folders (`model_dirs`). */
  dirs: readonly string[]
  /** @default 30000 */
  rescanMs?: number
  /** @default 250 */
  debounceMs?: number
  limits?: Omit<ScanLimits, 'signal'>
}

interface CachedRead {
  key: string
  result: { gguf: GgufFile; info: GgufInfo | undefined } | Error
}

export class ModelInventory extends EventEmitter<ModelInventoryEvents> {
  private readonly c: ModelInventoryComponents
  private readonly dirs: readonly string[]
  private readonly rescanMs: number
  private readonly debounceMs: number
  private readonly limits: Omit<ScanLimits, 'signal'>
  private controller: AbortController | undefined
  private readonly watchers = new Map<string, FSWatcher>()
  private timer: NodeJS.Timeout | undefined
  private debounce: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private again = false
  private readonly reads = new Map<string, CachedRead>()
  /** Things said once (a bad file, a missing folder, a shadowed name) until they change. */
  private said = new Set<string>()
  private models: readonly DiscoveredModel[] = []
  /** `models` by profile id: gossip asks for every profile on each heartbeat. */
  private byId = new Map<string, DiscoveredModel>()
  private fingerprint = '[]'
  private cookbookItems = new Map<string, InventoryItem>()
  private lastScanMs = 0

  constructor(components: ModelInventoryComponents, init: ModelInventoryInit) {
    super()
    this.c = components
    this.dirs = init.dirs
    this.rescanMs = init.rescanMs ?? DEFAULT_RESCAN_MS
    this.debounceMs = init.debounceMs ?? DEFAULT_DEBOUNCE_MS
    this.limits = init.limits ?? {}
  }

  /**
   * Scans once (so `discovered()` is real when it resolves), then watches and rescans.
   * Idempotent. Without dirs it still reads the cookbook's own files, for their facts.
   */
  async start(): Promise<void> {
    if (this.controller !== undefined) return
    this.controller = new AbortController()
    await this.rescan()
    this.schedule()
  }

  stop(): void {
    this.controller?.abort()
    this.controller = undefined
    clearTimeout(this.timer)
    clearTimeout(this.debounce)
    for (const w of this.watchers.values()) w.close()
    this.watchers.clear()
  }

  /** The models found by the last scan, in name order. */
  discovered(): readonly DiscoveredModel[] {
    return this.models
  }

  /** What is known of a local profile's file (a discovered model's or a cookbook one's), as of the last scan. */
  item(profileId: string): InventoryItem | undefined {
    const m = this.byId.get(profileId)
    if (m !== undefined) return { source: 'model_dirs', facts: m.facts, context: m.context, estimate: m.estimate }
    return this.cookbookItems.get(profileId)
  }

  /** How long the last scan took, ms (for logs and the bench). */
  get scanMs(): number {
    return this.lastScanMs
  }

  /** Scan now; a call during a scan gets one more scan after it, so the answer is current. */
  rescan(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true
      return this.running
    }
    this.running = (async () => {
      do {
        this.again = false
        await this.scanOnce()
      } while (this.again && this.controller !== undefined)
    })().finally(() => {
      this.running = undefined
    })
    return this.running
  }

  private schedule(): void {
    const signal = this.controller?.signal
    if (signal === undefined || signal.aborted) return
    this.timer = setTimeout(() => {
      void this.rescan().finally(() => this.schedule())
    }, this.rescanMs)
  }

  private soon(): void {
    if (this.controller === undefined) return
    clearTimeout(this.debounce)
    this.debounce = setTimeout(() => void this.rescan(), this.debounceMs)
  }

  private async scanOnce(): Promise<void> {
    const controller = this.controller
    if (controller === undefined) return
    const started = performance.now()
    const saidBefore = this.said
    this.said = new Set()
    const once = (key: string, log: () => void): void => {
      if (!saidBefore.has(key)) log()
      this.said.add(key)
    }
    try {
      const scan = await scanModelDirs(this.dirs, { ...this.limits, signal: controller.signal })
      for (const root of scan.missingRoots)
        once(`missing:${root}`, () =>
          this.c.logger.warn({ dir: root }, `model_dirs: ${root} is not a folder (yet); looking again every ${this.rescanMs / 1000} s`),
        )
      for (const p of scan.problems) once(`problem:${p.path}:${p.message}`, () => this.c.logger.warn({ path: p.path }, `model_dirs: ${p.path}: ${p.message}`))
      this.watchRoots(scan.missingRoots)

      const read: ReadGguf[] = []
      for (const file of scan.files) {
        const r = await this.read(file)
        if (r instanceof Error) {
          once(`bad:${file.path}:${file.size}:${file.mtimeMs}`, () =>
            this.c.logger.warn({ path: file.path }, `model_dirs: skipping ${file.path}: ${r.message}`),
          )
          continue
        }
        read.push({ file, ...r })
      }
      const cookbookFiles = await this.readCookbookFiles()
      const keep = new Set([...scan.files.map((f) => f.path), ...cookbookFiles])
      for (const path of this.reads.keys()) if (!keep.has(path)) this.reads.delete(path)

      const { groups, problems } = groupFiles(read)
      for (const p of problems) once(`group:${p.path}:${p.message}`, () => this.c.logger.warn({ path: p.path }, `model_dirs: skipping ${p.path}: ${p.message}`))
      const models = this.build(groups, once)
      const fingerprint = JSON.stringify(models.map((m) => [m.name, m.spec.launchHash, m.facts]))
      this.lastScanMs = performance.now() - started
      if (fingerprint === this.fingerprint) return
      const before = new Set(this.models.map((m) => m.name))
      this.models = models
      this.byId = new Map(models.map((m) => [m.spec.id, m]))
      this.fingerprint = fingerprint
      const added = models.filter((m) => !before.has(m.name)).map((m) => m.name)
      const now = new Set(models.map((m) => m.name))
      const removed = [...before].filter((n) => !now.has(n))
      this.c.logger.info({ models: models.length, added, removed, scan_ms: Math.round(this.lastScanMs) }, 'model_dirs inventory changed')
      this.emit('inventory:changed')
    } catch (err: unknown) {
      if (controller.signal.aborted) return
      this.c.logger.warn({ err }, 'model_dirs scan failed; keeping the models found before')
    }
  }

  /** Facts of the cookbook's own model files (a bad or missing one has none: the missing-file check reports it). */
  private async readCookbookFiles(): Promise<string[]> {
    const items = new Map<string, InventoryItem>()
    const paths: string[] = []
    const budget = this.c.budget()
    for (const p of this.c.cookbook().profiles.values()) {
      if (p.modelPath === undefined) continue
      const s = await stat(p.modelPath).catch(() => undefined)
      if (s === undefined || !s.isFile()) continue
      paths.push(p.modelPath)
      const r = await this.read({ path: p.modelPath, dir: dirname(p.modelPath), name: basename(p.modelPath), size: s.size, mtimeMs: s.mtimeMs })
      if (r instanceof Error || r.info === undefined) continue
      let estimate: MemoryFigures | undefined
      try {
        estimate = figures(estimateFor(r.info, p.args, budget))
      } catch {
        estimate = undefined
      }
      items.set(p.id, { source: 'cookbook', facts: factsOf(r.info), context: undefined, estimate })
    }
    this.cookbookItems = items
    return paths
  }

  private async read(file: FoundFile): Promise<CachedRead['result']> {
    const key = `${file.size}:${file.mtimeMs}`
    const hit = this.reads.get(file.path)
    if (hit?.key === key) return hit.result
    let result: CachedRead['result']
    try {
      const gguf = await readGgufFile(file.path, { signal: this.controller?.signal })
      checkComplete(file.path, gguf)
      const info = typeof gguf.metadata.get('general.architecture') === 'string' ? ggufInfo(file.path, gguf) : undefined
      result = { gguf, info }
    } catch (err: unknown) {
      this.controller?.signal.throwIfAborted()
      result = err instanceof Error ? err : new Error(String(err))
    }
    this.reads.set(file.path, { key, result })
    return result
  }

  private build(groups: readonly ModelGroup[], once: (key: string, log: () => void) => void): DiscoveredModel[] {
    const cookbook = this.c.cookbook()
    const namedFiles = new Set([...cookbook.profiles.values()].flatMap((p) => (p.modelPath === undefined ? [] : [p.modelPath])))
    const fresh = groups.filter((g) => !namedFiles.has(g.first.file.path))
    const names = assignNames(fresh.map((g) => ({ group: g, path: g.first.file.path, fileName: g.first.file.name, metadataName: g.info.name })))
    const budget = this.c.budget()
    const out: DiscoveredModel[] = []
    for (const [item, name] of names) {
      if (isCookbookName(cookbook, name)) {
        once(`shadow:${name}:${item.path}`, () =>
          this.c.logger.info({ model: name, path: item.path }, `model_dirs: ${item.path} is not added as "${name}": the cookbook defines that name`),
        )
        continue
      }
      if (out.length >= MAX_DISCOVERED_MODELS) {
        once('too-many', () => this.c.logger.warn(`model_dirs: more than ${MAX_DISCOVERED_MODELS} models; the rest are left out`))
        break
      }
      try {
        out.push(discoveredModel(name, item.group, budget))
      } catch (err: unknown) {
        once(`build:${item.path}`, () =>
          this.c.logger.warn({ path: item.path }, `model_dirs: skipping ${item.path}: ${err instanceof Error ? err.message : String(err)}`),
        )
      }
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1))
  }

  /** fs.watch every root that exists and is not watched yet; a failed watch leaves it to the periodic rescan. */
  private watchRoots(missing: readonly string[]): void {
    const signal = this.controller?.signal
    if (signal === undefined) return
    for (const root of this.dirs) {
      if (missing.includes(root) || this.watchers.has(root)) continue
      try {
        const w = watch(root, { recursive: true, signal }, () => this.soon())
        w.on('error', (err: unknown) => {
          this.c.logger.debug({ err, dir: root }, 'model_dirs watch ended; the periodic rescan goes on')
          w.close()
          this.watchers.delete(root)
        })
        this.watchers.set(root, w)
      } catch (err: unknown) {
        this.c.logger.debug({ err, dir: root }, 'model_dirs cannot be watched; rescanning periodically only')
      }
    }
  }
}

/**
 * A file whose tensor data ends past its size is cut short: a download still running, or
 * one that broke off. Its header reads fine, so this is the check that keeps it out.
 */
function checkComplete(path: string, gguf: GgufFile): void {
  let end = gguf.dataOffset
  for (const t of gguf.tensors) end = Math.max(end, gguf.dataOffset + t.offset + tensorDataBytes(path, t))
  if (gguf.fileSize < end) throw new Error(`truncated: ${gguf.fileSize} of ${end} bytes (a download still running?)`)
}

function isCookbookName(cookbook: Cookbook, name: string): boolean {
  if (cookbook.names.has(name) || (cookbook.aliases?.has(name) ?? false) || (cookbook.routes?.has(name) ?? false)) return true
  for (const p of cookbook.profiles.values()) if (p.model === name) return true
  return (cookbook.backends ?? []).some((b) => backendNames(b).includes(name))
}

/** llama.cpp pooling types (`<arch>.pooling_type`): 1–3 pool embeddings, 4 ranks. */
const POOLING_RANK = 4

/** The launch of one found model: its first file, a context that fits, its projector, and the endpoint its pooling says it serves. */
export function discoveredModel(name: string, group: ModelGroup, budget: NodeBudget): DiscoveredModel {
  const pooling = group.info.metadata.get(`${group.info.architecture}.pooling_type`)
  const role = typeof pooling === 'number' && pooling > 0 ? (pooling === POOLING_RANK ? ['--reranking'] : ['--embeddings']) : []
  const extra = [...role, ...(group.projector === undefined ? [] : ['--mmproj', group.projector.file.path])]
  const context = fitContext(group.info, budget, role)
  const spec = defaultProfile(name, group.first.file.path, ['-c', String(context), ...extra], `found in model_dirs: ${group.first.file.name}`)
  const estimate = figures(estimateFor(group.info, spec.args, budget))
  return { name, spec, context, estimate, facts: factsOf(group.info, { parts: group.parts.length, mmproj: group.projector?.file.path }) }
}

function figures(r: { vramMb: number; sysmemMb: number }): MemoryFigures {
  return { vramMb: r.vramMb, sysmemMb: r.sysmemMb }
}
