/** Minimal flag parsing shared by the CLI commands (node:util parseArgs underneath). */
import { parseArgs } from 'node:util'

export function commonFlags(args: string[], extra: Record<string, { type: 'string' | 'boolean'; short?: string }> = {}) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { config: { type: 'string', short: 'c' }, url: { type: 'string' }, json: { type: 'boolean' }, ...extra },
  })
}
