/**
 * Names of discovered models. A model is called by its GGUF `general.name`, sanitised to a
 * valid cookbook model name (lower case; letters, digits, ".", "_" and "-"), else by its
 * file name less `.gguf` and any split suffix. When several files carry the same
 * `general.name` (quantisations of one model, typically), none of them takes it: each is
 * called by its file name, and a file name found twice gets `-2`, `-3`, … in path order.
 */
import { MAX_DISCOVERED_NAME } from './constants.ts'

/** `name-00001-of-00003.gguf`: one part of a split model. */
export const SPLIT_FILE = /^(.+)-(\d{5})-of-(\d{5})\.gguf$/i

/** A valid model name made of `raw`, or undefined when nothing usable is left. */
export function sanitizeModelName(raw: string): string | undefined {
  const name = raw
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .slice(0, MAX_DISCOVERED_NAME)
    .replace(/^[-._]+|[-._]+$/g, '')
  return name === '' ? undefined : name
}

/** The file name without `.gguf` and without a split suffix. */
export function fileStem(fileName: string): string {
  const split = SPLIT_FILE.exec(fileName)
  if (split) return split[1] ?? fileName
  return fileName.replace(/\.gguf$/i, '')
}

export interface Nameable {
  /** Absolute path of the (first) file: orders clashes. */
  readonly path: string
  readonly fileName: string
  /** `general.name`, when the file has one. */
  readonly metadataName: string | undefined
}

/** A name for each item, unique among them, by the rule at the top of this file. */
export function assignNames<T extends Nameable>(items: readonly T[]): Map<T, string> {
  const sorted = [...items].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const fromMetadata = new Map<T, string | undefined>(sorted.map((i) => [i, i.metadataName === undefined ? undefined : sanitizeModelName(i.metadataName)]))
  const metadataCount = new Map<string, number>()
  for (const n of fromMetadata.values()) if (n !== undefined) metadataCount.set(n, (metadataCount.get(n) ?? 0) + 1)
  const out = new Map<T, string>()
  const taken = new Set<string>()
  // Unique metadata names first, so a file name never takes one away from the file that has it.
  for (const i of sorted) {
    const n = fromMetadata.get(i)
    if (n !== undefined && metadataCount.get(n) === 1) {
      out.set(i, n)
      taken.add(n)
    }
  }
  for (const i of sorted) {
    if (out.has(i)) continue
    const base = sanitizeModelName(fileStem(i.fileName)) ?? 'model'
    let name = base
    for (let k = 2; taken.has(name); k++) name = `${base}-${k}`
    out.set(i, name)
    taken.add(name)
  }
  return out
}
