/**
 * Stand-alone entry for `herd llama build` (`node src/llama/main.ts [args]`), for tests
 * and debugging without the rest of the CLI; src/cli/main.ts runs the same function.
 */
import { llamaBuildCommand } from './command.ts'

process.exitCode = await llamaBuildCommand(process.argv.slice(2), process.stdout)
