/** Model globs on keys: `*` any run of characters, `?` one; everything else literal. */

const cache = new Map<string, RegExp>()
/** Compiled globs kept (keys share a handful of patterns). */
const MAX_CACHED = 4096

export function globMatch(glob: string, name: string): boolean {
  let re = cache.get(glob)
  if (re === undefined) {
    const body = glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')
    re = new RegExp(`^${body}$`, 's')
    if (cache.size >= MAX_CACHED) cache.clear()
    cache.set(glob, re)
  }
  return re.test(name)
}

/** Whether any of `globs` matches any of `names` (no globs: everything matches). */
export function anyMatch(globs: readonly string[], names: readonly string[]): boolean {
  if (globs.length === 0) return true
  return globs.some((g) => names.some((n) => globMatch(g, n)))
}
