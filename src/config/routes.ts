/**
 * The cookbook's `routes:` (a role or task name standing for several models) and each
 * model's `fallbacks:`, checked across all cookbook files. Candidates are kept as written:
 * they may name models only peers or external backends serve, which are known at request
 * time, not at load; what can be checked here is that a route name takes no name a model
 * already has, and that a route does not point at another route.
 */
import type { RouteSpec } from './types.ts'
import type { CookbookFile } from './schema.ts'
import { configError } from './issues.ts'

export interface ParsedCookbookFile {
  file: string
  data: CookbookFile
}

export function collectRoutes(parsed: readonly ParsedCookbookFile[], taken: (name: string) => string | undefined): Map<string, RouteSpec> {
  const routes = new Map<string, RouteSpec>()
  const routeFile = new Map<string, string>()
  for (const { file, data } of parsed) {
    for (const [name, r] of Object.entries(data.routes)) {
      const first = routeFile.get(name)
      if (first !== undefined) throw configError([`route "${name}" is defined ${first === file ? `twice in ${file}` : `in both ${first} and ${file}`}`])
      const clash = taken(name)
      if (clash !== undefined) throw configError([`${file}: routes.${name}: "${name}" is already ${clash}`])
      routeFile.set(name, file)
      routes.set(name, { name, candidates: [...r.candidates], strategy: r.strategy, description: r.description })
    }
  }
  for (const r of routes.values()) {
    const nested = r.candidates.find((c) => routes.has(c))
    if (nested !== undefined) throw configError([`${routeFile.get(r.name)}: routes.${r.name}.candidates: "${nested}" is a route; candidates name models`])
  }
  return routes
}

/** `model:profile` → its model's `fallbacks`, for every enabled profile of a model that names some. */
export function collectFallbacks(parsed: readonly ParsedCookbookFile[], profileIds: (model: string) => readonly string[]): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>()
  for (const { data } of parsed) {
    for (const model of data.models) {
      if (model.fallbacks.length === 0) continue
      for (const id of profileIds(model.name)) out.set(id, [...model.fallbacks])
    }
  }
  return out
}
