/** Addressing: what a request's `model` field means in a cookbook. */
import type { Cookbook } from './types.ts'

/**
 * Resolves `model`, `model:profile`, an alias or `alias:profile` to the `model:profile` id of
 * an enabled profile. No model (undefined or '') means the cookbook's default_model. Returns
 * undefined when nothing matches, including a bare name whose model has several profiles and
 * none called `default` (the api answers that with a 404/400).
 */
export function resolveModel(cookbook: Cookbook, requested: string | undefined): string | undefined {
  const name = requested === undefined || requested === '' ? cookbook.defaultModel : requested
  if (name === undefined) return undefined
  if (cookbook.profiles.has(name)) return name
  const bare = cookbook.names.get(name)
  if (bare !== undefined) return bare
  const colon = name.indexOf(':')
  if (colon <= 0) return undefined
  const model = cookbook.aliases?.get(name.slice(0, colon))
  if (model === undefined) return undefined
  const id = `${model}${name.slice(colon)}`
  return cookbook.profiles.has(id) ? id : undefined
}

/** Enabled profile ids of `model` (for "did you mean" messages when a bare name is ambiguous). */
export function profilesOfModel(cookbook: Cookbook, model: string): string[] {
  return [...cookbook.profiles.values()].filter((p) => p.model === model).map((p) => p.id)
}
