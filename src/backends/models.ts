/** A backend's models as clients address them: `backend/model`, listed ones (with their aliases) first, then discovered ones. */
import { MAX_BACKEND_MODELS, type BackendSpec, type Price } from '../config/index.ts'
import type { BackendModelState } from '../mesh/types.ts'

export function backendModels(spec: Pick<BackendSpec, 'name' | 'models' | 'price'>, discovered: readonly string[]): BackendModelState[] {
  const priced = (p: Price | undefined): { price?: Price } =>
    p === undefined ? {} : { price: { inputPerMtok: p.inputPerMtok, outputPerMtok: p.outputPerMtok } }
  const out: BackendModelState[] = spec.models.map((m) => ({
    id: `${spec.name}/${m.name}`,
    model: m.name,
    names: [...m.aliases],
    ...priced(m.price ?? spec.price),
  }))
  const listed = new Set(spec.models.map((m) => m.name))
  for (const name of discovered) {
    if (out.length >= MAX_BACKEND_MODELS) break
    if (!listed.has(name)) out.push({ id: `${spec.name}/${name}`, model: name, names: [], ...priced(spec.price) })
  }
  return out
}
