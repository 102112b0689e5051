/**
 * Turns zod issues into messages a person can act on: the key path in YAML terms
 * (`models[tiny].profiles[default].model_path`) and what was wrong with it.
 */
import type { z } from 'zod'
import { HerdError } from '../errors/index.ts'
import { getPath } from './util.ts'

type Issue = z.ZodError['issues'][number]

export interface Problem {
  /** Full key path, including an unknown key's own name. */
  readonly path: readonly PropertyKey[]
  readonly message: string
}

const NOUNS: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean (true or false)',
  string: 'a string',
  array: 'a list',
  object: 'a mapping',
}

function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return NOUNS[typeof value] ?? typeof value
}

/** Flattens zod issues into one problem per offending key. `raw` is the input, for names and received values. */
export function toProblems(issues: readonly Issue[], raw: unknown): Problem[] {
  const out: Problem[] = []
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...issue.path, key], message: 'unknown key' })
      continue
    }
    if (issue.code === 'invalid_type') {
      const value = getPath(raw, issue.path)
      const message = value === undefined ? 'required' : `expected ${NOUNS[issue.expected] ?? issue.expected}, got ${kindOf(value)}`
      out.push({ path: issue.path, message })
      continue
    }
    out.push({ path: issue.path, message: issue.message })
  }
  return out
}

/**
 * `models.0.profiles.1.id` → `models[tiny].profiles[fast].id`: list items are named by their
 * `name`/`id` when they have one, which is how the user finds them in the file.
 */
export function formatPath(path: readonly PropertyKey[], raw: unknown): string {
  let out = ''
  for (let i = 0; i < path.length; i++) {
    const key = path[i]
    if (typeof key === 'number') {
      const item = getPath(raw, path.slice(0, i + 1))
      const label = labelOf(item)
      out += label === undefined ? `[${key}]` : `[${label}]`
    } else {
      out += (out === '' ? '' : '.') + String(key)
    }
  }
  return out
}

function labelOf(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null) return undefined
  const rec = item as Record<string, unknown>
  const label = rec['name'] ?? rec['id']
  return typeof label === 'string' && label !== '' ? label : undefined
}

/** One HerdError('config_invalid') listing every problem, each prefixed by where it came from. */
export function configError(lines: readonly string[], cause?: unknown): HerdError {
  const message = lines.length === 1 ? (lines[0] ?? '') : `invalid configuration:\n  ${lines.join('\n  ')}`
  return new HerdError('config_invalid', message, { cause })
}
