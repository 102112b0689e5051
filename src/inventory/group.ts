/**
 * From GGUF files to models. Split models (`name-00001-of-00003.gguf`, llama.cpp's
 * `gguf-split` naming) are one model when every part is there, and llama-server is given
 * the first part (it finds the others itself). Projectors (a file name holding `mmproj`, or
 * `general.architecture = clip`) are never models: they attach to models in their own
 * folder. A folder with one projector gives it to every model there (the Hugging Face
 * layout: one projector beside several quantisations); with several, each model takes the
 * projector whose name, less `mmproj`, shares the longest start with the model's file name
 * (none when that is a tie or nothing).
 */
import { withParts, type GgufFile, type GgufInfo } from '../hardware/index.ts'
import { fileStem, SPLIT_FILE } from './names.ts'
import type { FoundFile, ScanProblem } from './scan.ts'

export interface ReadGguf {
  readonly file: FoundFile
  readonly gguf: GgufFile
  /** Undefined for a later part of a split model: gguf-split keeps the model's metadata in the first part only. */
  readonly info: GgufInfo | undefined
}

export interface ModelGroup {
  /** The file llama-server is given: the first part of a split model. */
  readonly first: ReadGguf
  /** Every part in order (just `first` for a single file). */
  readonly parts: readonly ReadGguf[]
  readonly projector: ReadGguf | undefined
  /** The first part's facts with every part's tensors, so counts and estimates cover the whole model. */
  readonly info: GgufInfo
}

export function isProjector(r: ReadGguf): boolean {
  return /mmproj/i.test(r.file.name) || r.info?.architecture === 'clip'
}

export function groupFiles(read: readonly ReadGguf[]): { groups: ModelGroup[]; problems: ScanProblem[] } {
  const problems: ScanProblem[] = []
  const projectors = read.filter(isProjector)
  const splits = new Map<string, { count: number; parts: Map<number, ReadGguf> }>()
  const models: { first: ReadGguf; parts: ReadGguf[] }[] = []
  for (const r of read) {
    if (isProjector(r)) continue
    const m = SPLIT_FILE.exec(r.file.name)
    if (!m) {
      models.push({ first: r, parts: [r] })
      continue
    }
    const count = Number(m[3])
    const key = `${r.file.dir}\0${(m[1] ?? '').toLowerCase()}\0${count}`
    const entry = splits.get(key) ?? { count, parts: new Map<number, ReadGguf>() }
    entry.parts.set(Number(m[2]), r)
    splits.set(key, entry)
  }
  for (const { count, parts } of splits.values()) {
    const ordered = [...parts.entries()].sort((a, b) => a[0] - b[0])
    const complete = count > 0 && ordered.length === count && ordered.every(([index], i) => index === i + 1)
    const first = parts.get(1) ?? ordered[0]?.[1]
    if (first === undefined) continue
    if (!complete) {
      problems.push({ path: first.file.path, message: `split model incomplete: parts ${ordered.map(([i]) => i).join(', ')} of ${count} found` })
      continue
    }
    models.push({ first, parts: ordered.map(([, r]) => r) })
  }
  models.sort((a, b) => (a.first.file.path < b.first.file.path ? -1 : 1))
  const groups: ModelGroup[] = []
  for (const { first, parts } of models) {
    if (first.info === undefined) {
      problems.push({ path: first.file.path, message: 'GGUF file has no general.architecture' })
      continue
    }
    try {
      groups.push({ first, parts, projector: projectorFor(first, projectors), info: mergedInfo(first.info, parts) })
    } catch (err: unknown) {
      problems.push({ path: first.file.path, message: err instanceof Error ? err.message : String(err) })
    }
  }
  return { groups, problems }
}

function projectorFor(model: ReadGguf, projectors: readonly ReadGguf[]): ReadGguf | undefined {
  const here = projectors.filter((p) => p.file.dir === model.file.dir)
  if (here.length <= 1) return here[0]
  const stem = fileStem(model.file.name).toLowerCase()
  let best: ReadGguf | undefined
  let bestLength = 0
  let tie = false
  for (const p of here) {
    const key = fileStem(p.file.name)
      .toLowerCase()
      .replace(/mmproj/g, '')
      .replace(/^[-._]+|[-._]+$/g, '')
    const n = commonPrefix(stem, key)
    if (n > bestLength) {
      best = p
      bestLength = n
      tie = false
    } else if (n === bestLength && n > 0) tie = true
  }
  return tie ? undefined : best
}

function commonPrefix(a: string, b: string): number {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return i
}

function mergedInfo(info: GgufInfo, parts: readonly ReadGguf[]): GgufInfo {
  return withParts(
    info,
    parts.slice(1).map((p) => ({ path: p.file.path, file: p.gguf })),
  )
}
