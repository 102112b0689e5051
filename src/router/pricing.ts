/**
 * Prices, as the catalog knows them (cookbook, backends, peers' gossip): what an answer
 * cost, and the `cheapest` order. A price is currency units per million tokens, which is
 * also millionths of a unit per token: the spend of an answer in micros is
 * `prompt × input_per_mtok + completion × output_per_mtok`.
 */
import type { PriceState } from '../mesh/types.ts'

/** Spend in millionths of the currency (rounded; 0 for an unknown price). */
export function costMicros(price: PriceState | undefined, promptTokens: number, completionTokens: number): number {
  if (price === undefined) return 0
  return Math.round(promptTokens * price.inputPerMtok + completionTokens * price.outputPerMtok)
}

/** One number to compare prices by: a million tokens in, a million out. Unknown prices sort last. */
export function priceRank(price: PriceState | undefined): number {
  return price === undefined ? Infinity : price.inputPerMtok + price.outputPerMtok
}

/** `ids` cheapest first; equal (and unknown) prices keep their order. */
export function byPrice(ids: readonly string[], price: (id: string) => PriceState | undefined): string[] {
  return ids
    .map((id, i) => ({ id, i, p: priceRank(price(id)) }))
    .sort((a, b) => (a.p === b.p ? a.i - b.i : a.p < b.p ? -1 : 1))
    .map((x) => x.id)
}
