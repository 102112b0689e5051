/**
 * Walking `model_dirs` for GGUF files. Symbolic links are followed (the Hugging Face cache
 * links snapshot files to blobs), so every folder and file is identified by device and inode:
 * a link loop, or a file reachable twice, is visited once. Dot files and dot folders are
 * skipped (`.cache`, `.locks`, partial downloads), depth and entry counts are bounded
 * (constants.ts), and an unreadable folder is reported, never thrown.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_SCAN_DEPTH, MAX_SCAN_ENTRIES, MAX_SCAN_FILES } from './constants.ts'

export interface FoundFile {
  readonly path: string
  readonly dir: string
  readonly name: string
  readonly size: number
  readonly mtimeMs: number
}

export interface ScanProblem {
  readonly path: string
  readonly message: string
}

export interface ScanResult {
  /** GGUF files, in path order. */
  readonly files: FoundFile[]
  /** `model_dirs` entries that do not exist (or are not folders). */
  readonly missingRoots: string[]
  /** Folders that could not be read, and limits that cut the scan short. */
  readonly problems: ScanProblem[]
}

export interface ScanLimits {
  maxDepth?: number
  maxEntries?: number
  maxFiles?: number
  signal?: AbortSignal
}

const GGUF = /\.gguf$/i

export async function scanModelDirs(roots: readonly string[], limits: ScanLimits = {}): Promise<ScanResult> {
  const maxDepth = limits.maxDepth ?? MAX_SCAN_DEPTH
  const maxEntries = limits.maxEntries ?? MAX_SCAN_ENTRIES
  const maxFiles = limits.maxFiles ?? MAX_SCAN_FILES
  const files: FoundFile[] = []
  const missingRoots: string[] = []
  const problems: ScanProblem[] = []
  const seen = new Set<string>()
  let entries = 0
  let cut = false

  const visit = async (dir: string, depth: number): Promise<void> => {
    limits.signal?.throwIfAborted()
    let list
    try {
      list = await readdir(dir, { withFileTypes: true })
    } catch (err: unknown) {
      problems.push({ path: dir, message: `cannot read folder: ${(err as NodeJS.ErrnoException).code ?? String(err)}` })
      return
    }
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const subdirs: string[] = []
    for (const entry of list) {
      if (cut) return
      if (++entries > maxEntries) {
        problems.push({ path: dir, message: `scan stopped after ${maxEntries} entries; point model_dirs at smaller folders` })
        cut = true
        return
      }
      if (entry.name.startsWith('.')) continue
      const path = join(dir, entry.name)
      const isGguf = GGUF.test(entry.name)
      if (!entry.isDirectory() && !entry.isSymbolicLink() && !(entry.isFile() && isGguf)) continue
      // stat follows links: a dangling one is skipped quietly (a download that moved on).
      const s = await stat(path).catch(() => undefined)
      if (s === undefined) continue
      const id = `${s.dev}:${s.ino}`
      if (s.isDirectory()) {
        if (depth < maxDepth && !seen.has(id)) {
          seen.add(id)
          subdirs.push(path)
        }
      } else if (s.isFile() && isGguf && !seen.has(id)) {
        seen.add(id)
        if (files.length >= maxFiles) {
          problems.push({ path, message: `more than ${maxFiles} GGUF files; the rest are left out` })
          cut = true
          return
        }
        files.push({ path, dir, name: entry.name, size: s.size, mtimeMs: s.mtimeMs })
      }
    }
    for (const sub of subdirs) await visit(sub, depth + 1)
  }

  for (const root of roots) {
    const s = await stat(root).catch(() => undefined)
    if (s === undefined || !s.isDirectory()) {
      missingRoots.push(root)
      continue
    }
    const id = `${s.dev}:${s.ino}`
    if (seen.has(id)) continue
    seen.add(id)
    await visit(root, 0)
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return { files, missingRoots, problems }
}
