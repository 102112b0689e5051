/** A backend's models as clients address them: `backend/model`, listed ones (with their aliases) first, then discovered ones. */
import { MAX_BACKEND_MODELS, type BackendSpec } from '../config/index.ts'
import type { BackendModelState } from '../mesh/types.ts'

export function backendModels(spec: Pick<BackendSpec, 'name' | 'models'>, discovered: readonly string[]): BackendModelState[] {
  const out: BackendModelState[] = spec.models.map((m) => ({ id: `${spec.name}/${m.name}`, model: m.name, names: [...m.aliases] }))
  const listed = new Set(spec.models.map((m) => m.name))
  for (const name of discovered) {
    if (out.length >= MAX_BACKEND_MODELS) break
    if (!listed.has(name)) out.push({ id: `${spec.name}/${name}`, model: name, names: [] })
  }
  return out
}
