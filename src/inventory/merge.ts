/** The cookbook in force: the cookbook's own models, and the discovered ones it does not name. */
import type { Cookbook } from '../config/index.ts'
import type { DiscoveredModel } from './inventory.ts'

/**
 * `cookbook` with each discovered model added as `name:default` (its bare name resolving to
 * it). A name the cookbook uses in any way (model, alias, route) stays the cookbook's: the
 * inventory already leaves those out, and this holds even when the two are a moment apart.
 */
export function withDiscovered(cookbook: Cookbook, models: readonly DiscoveredModel[]): Cookbook {
  if (models.length === 0) return cookbook
  const profiles = new Map(cookbook.profiles)
  const names = new Map(cookbook.names)
  const models_ = new Set([...cookbook.profiles.values()].map((p) => p.model))
  for (const m of models) {
    if (models_.has(m.name) || names.has(m.name) || (cookbook.aliases?.has(m.name) ?? false) || (cookbook.routes?.has(m.name) ?? false)) continue
    profiles.set(m.spec.id, m.spec)
    names.set(m.name, m.spec.id)
  }
  return Object.freeze({ ...cookbook, profiles, names })
}
