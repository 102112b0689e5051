/** Flag parsing shared by the CLI commands that talk to a running node. */
import { parseArgs } from 'node:util'

export function commonFlags(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { config: { type: 'string', short: 'c' }, url: { type: 'string' }, json: { type: 'boolean' }, logs: { type: 'boolean' } },
  })
}
