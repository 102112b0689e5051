/**
 * Client-supplied text (model names, paths, header values) echoed into an error message
 * or a log line is cut to a bounded length, so a 900 KB model name costs a short answer
 * and a short log line, not 900 KB of each.
 */

/** The most characters of one client string herd repeats back. */
export const MAX_ECHO_CHARS = 96

/** `text` unchanged when short, else its first MAX_ECHO_CHARS characters and an ellipsis saying how long it was. */
export function clip(text: string, max = MAX_ECHO_CHARS): string {
  if (text.length <= max) return text
  // Never cut between the two halves of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(text.charAt(max - 1)) ? max - 1 : max
  return `${text.slice(0, end)}… (${text.length} chars)`
}
