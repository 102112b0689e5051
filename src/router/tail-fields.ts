/**
 * Numbers read from the tail of an answer (`"field": digits`), where llama-server puts its
 * `timings` and every API its `usage`: searched from the end with lastIndexOf, without a
 * regex scan over the whole tail.
 */

/** After a field's name: `\s*:\s*` and its digits (sticky: matched right where the name ends); with a fraction, or only the whole part. */
const DECIMAL = /\s*:\s*(\d+(?:\.\d+)?)/y
const WHOLE = /\s*:\s*(\d+)/y

/** The last value of any of `fields` (quoted JSON names, e.g. `"predicted_n"`) in `text`: its whole part unless `fraction` (counts of tokens are whole). */
export function lastNumberField(text: string, fields: readonly string[], fraction = false): number | undefined {
  const VALUE = fraction ? DECIMAL : WHOLE
  let best: { at: number; value: number } | undefined
  for (const name of fields) {
    for (let at = text.lastIndexOf(name); at >= 0 && (best === undefined || at > best.at); at = at === 0 ? -1 : text.lastIndexOf(name, at - 1)) {
      VALUE.lastIndex = at + name.length
      const m = VALUE.exec(text)
      if (m?.[1] !== undefined) {
        best = { at, value: Number(m[1]) }
        break
      }
    }
  }
  return best?.value
}
