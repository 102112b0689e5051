/**
 * Numbers read from the tail of an answer (`"field": digits`), where llama-server puts its
 * `timings` and every API its `usage`. One regex pass over the tail finds the last value of
 * every field herd reads, remembered for that tail: the local body (its rate) and the
 * tenant meter (usage) read the same decoded tail, and a field that is absent costs no
 * scan of its own.
 */

export type TailField = 'prompt_tokens' | 'input_tokens' | 'completion_tokens' | 'output_tokens' | 'prompt_n' | 'predicted_n' | 'predicted_ms'

/** A field's name in quotes, `:` with optional spaces, then its number. */
const FIELD = /"(prompt_tokens|input_tokens|completion_tokens|output_tokens|prompt_n|predicted_n|predicted_ms)"\s*:\s*(\d+(?:\.\d+)?)/g

type Found = Partial<Record<TailField, { at: number; raw: string }>>

/** The last tail read, and what it holds (one entry: the two readers of a tail ask one after the other). */
let last: { text: string; found: Found } | undefined

function scan(text: string): Found {
  if (last !== undefined && last.text === text) return last.found
  const found: Found = {}
  FIELD.lastIndex = 0
  for (let m = FIELD.exec(text); m !== null; m = FIELD.exec(text)) found[m[1] as TailField] = { at: m.index, raw: m[2] as string }
  last = { text, found }
  return found
}

/**
 * The last value in `text` of any of `fields` (whichever comes last): its whole part unless
 * `fraction` (counts of tokens are whole; a duration may not be).
 */
export function lastNumberField(text: string, fields: readonly TailField[], fraction = false): number | undefined {
  const found = scan(text)
  let best: { at: number; raw: string } | undefined
  for (const f of fields) {
    const hit = found[f]
    if (hit !== undefined && (best === undefined || hit.at > best.at)) best = hit
  }
  if (best === undefined) return undefined
  return fraction ? Number(best.raw) : Number.parseInt(best.raw, 10)
}
