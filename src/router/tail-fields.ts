/**
 * Numbers read from the tail of an answer (`"field": digits`), where llama-server puts its
 * `timings` and every API its `usage`. One regex pass over the tail finds the last value of
 * every field herd reads: a field that is absent costs no scan of its own.
 */

export type TailField = 'prompt_tokens' | 'input_tokens' | 'completion_tokens' | 'output_tokens' | 'prompt_n' | 'predicted_n' | 'predicted_ms'

/** A field's name in quotes, `:` with optional spaces, then its number. */
const FIELD = /"(prompt_tokens|input_tokens|completion_tokens|output_tokens|prompt_n|predicted_n|predicted_ms)"\s*:\s*(\d+(?:\.\d+)?)/g

/**
 * The last value of each field in one tail, found in one pass when made. The local body
 * makes one per answer and hands it to the tenant meter too: one scan for both.
 */
export class TailFields {
  private readonly found: Partial<Record<TailField, { at: number; raw: string }>> = {}

  constructor(text: string) {
    FIELD.lastIndex = 0
    for (let m = FIELD.exec(text); m !== null; m = FIELD.exec(text)) this.found[m[1] as TailField] = { at: m.index, raw: m[2] as string }
  }

  /** The last value of any of `fields` (whichever comes last): its whole part unless `fraction` (counts of tokens are whole; a duration may not be). */
  last(fields: readonly TailField[], fraction = false): number | undefined {
    let best: { at: number; raw: string } | undefined
    for (const f of fields) {
      const hit = this.found[f]
      if (hit !== undefined && (best === undefined || hit.at > best.at)) best = hit
    }
    if (best === undefined) return undefined
    return fraction ? Number(best.raw) : Number.parseInt(best.raw, 10)
  }
}
