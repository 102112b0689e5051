/**
 * Small helpers shared by the config and cookbook loaders: home expansion, path resolution,
 * plain-object merging and deep freezing.
 */
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import type { Price } from './types.ts'

/** Expands a leading `~` (alone or `~/…`). `~user` is left alone: no user database lookups. */
export function expandHome(path: string, home: string = homedir()): string {
  if (path === '~') return home
  if (path.startsWith('~/')) return join(home, path.slice(2))
  return path
}

/** `~`-expands, then resolves a relative path against `base`. */
export function resolveFrom(base: string, path: string, home?: string): string {
  const expanded = expandHome(path, home)
  return isAbsolute(expanded) ? expanded : resolve(base, expanded)
}

/**
 * Like resolveFrom, but a bare command name (no `/`) is kept as is, so PATH lookup still
 * applies to values like `nvidia-smi` or `llama-server`.
 */
export function resolveCommand(base: string, command: string, home?: string): string {
  const expanded = expandHome(command, home)
  return expanded.includes('/') ? resolveFrom(base, expanded, home) : expanded
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Merges `over` onto `base`: objects merge key by key, anything else (arrays included) replaces. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key]
    out[key] = isPlainObject(prev) && isPlainObject(value) ? deepMerge(prev, value) : value
  }
  return out
}

/** Freezes plain objects and arrays all the way down (Maps keep their readonly type only). */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value
  if (value instanceof Map) {
    for (const v of value.values()) deepFreeze(v)
  } else {
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return Object.freeze(value)
}

/** Reads `obj` along `path`; undefined when any step is missing. */
export function getPath(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = obj
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined
    cur = (cur as Record<PropertyKey, unknown>)[key]
  }
  return cur
}

/** A cookbook `price:` in its resolved form. */
export function priceOf(p: { input_per_mtok: number; output_per_mtok: number }): Price {
  return { inputPerMtok: p.input_per_mtok, outputPerMtok: p.output_per_mtok }
}
