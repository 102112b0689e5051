/**
 * Reading a client's request body field by field, with the path of each field kept so a
 * refusal names it the way the client wrote it (`messages[2].content[0].type`). Requests
 * arrive as parsed JSON of unknown shape: everything is checked here, on the way in.
 */
import { HerdError } from '../errors/index.ts'

export type JsonObject = Record<string, unknown>

/** A 400 `invalid_request` whose `param` is the field at fault. */
export function refuse(param: string, message: string): never {
  throw new HerdError('invalid_request', message, param === '' ? {} : { param })
}

/** A backend answer that is not what its protocol promises: the backend's fault (502). */
export function malformed(message: string): HerdError {
  return new HerdError('upstream_error', `backend answer cannot be converted: ${message}`)
}

export const key = (path: string, name: string): string => (path === '' ? name : `${path}.${name}`)
export const at = (path: string, index: number): string => `${path}[${index}]`

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** JSON null and a missing field mean the same in both protocols: not set. */
export function isAbsent(value: unknown): value is null | undefined {
  return value === null || value === undefined
}

export function asObject(value: unknown, path: string): JsonObject {
  if (!isObject(value)) refuse(path, `'${path || 'body'}' must be an object`)
  return value
}

export function asArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) refuse(path, `'${path}' must be an array`)
  return value
}

export function asString(value: unknown, path: string): string {
  if (typeof value !== 'string') refuse(path, `'${path}' must be a string`)
  return value
}

export function asNumber(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) refuse(path, `'${path}' must be a number`)
  return value
}

export function asInteger(value: unknown, path: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) refuse(path, `'${path}' must be a non-negative integer`)
  return value as number
}

export function asBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') refuse(path, `'${path}' must be a boolean`)
  return value
}

/** `field` of `obj` through `read`, or undefined when absent (missing or null). */
export function optional<T>(obj: JsonObject, field: string, path: string, read: (value: unknown, path: string) => T): T | undefined {
  const value = obj[field]
  return isAbsent(value) ? undefined : read(value, key(path, field))
}
