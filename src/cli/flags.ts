/** Flag parsing shared by the CLI commands that talk to a running node. */
import { parseCommandArgs, type CommandName } from './usage.ts'

export function commonFlags(command: CommandName, args: string[]) {
  return parseCommandArgs(command, args, {
    config: { type: 'string', short: 'c' },
    url: { type: 'string' },
    json: { type: 'boolean' },
    logs: { type: 'boolean' },
  })
}
