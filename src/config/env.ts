/**
 * Environment overrides. The rule:
 *   - `HERD_<SECTION>__<KEY>` sets `<section>.<key>` (e.g. `HERD_HTTP__LISTEN`, `HERD_MESH__PEERS`);
 *   - `HERD_<KEY>` sets a top-level key that is not a section (`HERD_LOG_LEVEL`, `HERD_COOKBOOK`);
 *   - names are matched case-insensitively against the YAML keys (`BODY_LIMIT_BYTES` → `body_limit_bytes`);
 *   - `HERD_HOME` is not a config key; other `HERD_<NAME>` without `__` that match no top-level
 *     key are left alone (they may belong to other tools), but an unknown `<SECTION>__<KEY>` is an error.
 * Values are coerced to the key's type: booleans `true/false/1/0/yes/no/on/off`, numbers,
 * lists as a JSON array or comma-separated, `null` (or empty) for nullable keys.
 */
import { z } from 'zod'
import { configSchema } from './schema.ts'
import { configError } from './issues.ts'

export interface EnvOverrides {
  /** A partial config file object. */
  readonly values: Record<string, unknown>
  /** `section.key` (or `key`) → the variable that set it, for error messages. */
  readonly sources: ReadonlyMap<string, string>
}

/** Environment variables with the HERD_ prefix that are not config keys. */
const RESERVED = new Set(['HERD_HOME'])

type Kind = 'boolean' | 'number' | 'array' | 'string'

interface KeyType {
  readonly kind: Kind
  readonly nullable: boolean
}

/** Peels defaults and optionality off a schema to find what a string must become. */
function keyType(schema: z.ZodType, nullable = false): KeyType {
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault || schema instanceof z.ZodOptional) {
    return keyType(schema.def.innerType as z.ZodType, nullable)
  }
  if (schema instanceof z.ZodNullable) return keyType(schema.def.innerType as z.ZodType, true)
  if (schema instanceof z.ZodBoolean) return { kind: 'boolean', nullable }
  if (schema instanceof z.ZodNumber) return { kind: 'number', nullable }
  if (schema instanceof z.ZodArray) return { kind: 'array', nullable }
  if (schema instanceof z.ZodLiteral) return { kind: typeof schema.value === 'number' ? 'number' : 'string', nullable }
  if (schema instanceof z.ZodUnion) {
    const kinds = (schema.def.options as z.ZodType[]).map((o) => keyType(o).kind)
    return { kind: kinds.includes('number') ? 'number' : (kinds[0] ?? 'string'), nullable }
  }
  return { kind: 'string', nullable }
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault || schema instanceof z.ZodOptional) {
    return objectShape(schema.def.innerType as z.ZodType)
  }
  return schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodType>) : undefined
}

const TRUE = new Set(['true', '1', 'yes', 'on'])
const FALSE = new Set(['false', '0', 'no', 'off'])

/** Coerces one variable's text; throws naming the variable when it cannot. */
export function coerceEnvValue(name: string, raw: string, type: KeyType): unknown {
  const text = raw.trim()
  if (type.nullable && (text === '' || text === 'null')) return null
  const fail = (what: string): never => {
    throw configError([`${name}: expected ${what}, got ${JSON.stringify(raw)}`])
  }
  switch (type.kind) {
    case 'boolean': {
      const lower = text.toLowerCase()
      if (TRUE.has(lower)) return true
      if (FALSE.has(lower)) return false
      return fail('a boolean (true or false)')
    }
    case 'number': {
      const n = Number(text)
      return text === '' || !Number.isFinite(n) ? fail('a number') : n
    }
    case 'array': {
      if (text.startsWith('[')) {
        try {
          const parsed: unknown = JSON.parse(text)
          if (Array.isArray(parsed)) return parsed
        } catch {
          // Falls through to the error below: the text looked like JSON but was not.
        }
        return fail('a JSON array or a comma-separated list')
      }
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    }
    case 'string':
      return raw
  }
}

/** Reads every `HERD_*` override from `env`. */
export function readEnvOverrides(env: NodeJS.ProcessEnv): EnvOverrides {
  const values: Record<string, unknown> = {}
  const sources = new Map<string, string>()
  const top = configSchema.shape as Record<string, z.ZodType>
  for (const name of Object.keys(env).sort()) {
    const raw = env[name]
    if (!name.startsWith('HERD_') || RESERVED.has(name) || raw === undefined) continue
    const rest = name.slice('HERD_'.length).toLowerCase()
    const sep = rest.indexOf('__')
    if (sep === -1) {
      const schema = top[rest]
      if (schema === undefined) continue
      if (objectShape(schema) !== undefined) throw configError([`${name}: ${rest} is a section; set HERD_${rest.toUpperCase()}__<KEY>`])
      values[rest] = coerceEnvValue(name, raw, keyType(schema))
      sources.set(rest, name)
      continue
    }
    const section = rest.slice(0, sep)
    const key = rest.slice(sep + 2)
    const sectionSchema = top[section]
    const shape = sectionSchema === undefined ? undefined : objectShape(sectionSchema)
    if (shape === undefined) throw configError([`${name}: unknown section ${section}`])
    const keySchema = shape[key]
    if (keySchema === undefined) throw configError([`${name}: unknown key ${section}.${key}`])
    const bucket = (values[section] ??= {}) as Record<string, unknown>
    bucket[key] = coerceEnvValue(name, raw, keyType(keySchema))
    sources.set(`${section}.${key}`, name)
  }
  return { values, sources }
}
