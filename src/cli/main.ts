/**
 * `herd` — a thin CLI over the same code the daemon runs. Each command lives in its own
 * file; this one only dispatches.
 */
import { stdout, stderr, argv, exit } from 'node:process'
import { COMMAND_USAGE, HelpRequested, UsageError } from './usage.ts'

// node:sqlite (the tenant key store) says it is experimental on every start. bin/herd passes
// --disable-warning=ExperimentalWarning; this covers `node src/cli/main.ts` too, and only that warning.
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void
process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
  const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: unknown } | undefined)?.type
  if (type === 'ExperimentalWarning' && String(warning).includes('SQLite')) return
  emitWarning(warning, ...rest)
}) as typeof process.emitWarning

const USAGE = `herd — one OpenAI-compatible endpoint for all your llama.cpp machines

Usage:
  herd start [--config FILE]            run the daemon
  herd demo                             write the tiny demo model if missing, then serve cookbook/demo.yaml
  herd init [--join SECRET|FILE] [--force]  write HERD_HOME/config.yaml and a cluster secret
  herd nodes [--config FILE] [--url URL] [--json]   the mesh as this node sees it
  herd models [--config FILE] [--url URL] [--json]  models served anywhere in the mesh
  herd ps [--config FILE] [--url URL] [--logs] [--json]  this node's llama-server instances
  herd top [--url URL] [--key KEY] [--interval S] [--once]  the mesh live in the terminal (q quits)
  herd inventory [--config FILE] [--url URL] [--key KEY] [--json]  every model file in the mesh: GGUF facts, nodes, memory
  herd keys create|list|show|update|revoke [...]   tenant keys with models, rates, quotas, budgets
  herd usage [--by key|model|node|day] [--since 7d] [--json|--csv]  tokens and spend per key
  herd llama build [--git URL --ref REF] [--force] [-- CMAKE_ARGS...]
  herd gguf FILE [--ctx N] [--parallel N] [--json]

HERD_HOME (default ~/.herd) holds the config, the peer key, the cluster secret and the llama.cpp cache.
`

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args
  switch (command) {
    case 'start':
      return (await import('./start.ts')).startCommand(rest)
    case 'demo':
      return (await import('./demo.ts')).demoCommand(rest)
    case 'init':
      return (await import('./init.ts')).initCommand(rest, stdout)
    case 'nodes':
    case 'models':
    case 'ps':
      return (await import('./inspect.ts')).inspectCommand(command, rest, stdout)
    case 'top':
      return (await import('./top/index.ts')).topCommand(rest)
    case 'inventory':
      return (await import('./inventory.ts')).inventoryCommand(rest, stdout)
    case 'keys':
      return (await import('./keys.ts')).keysCommand(rest, stdout)
    case 'usage':
      return (await import('./usage-report.ts')).usageCommand(rest, stdout)
    case 'llama': {
      if (rest[0] !== 'build') break
      const { llamaBuildCommand } = await import('../llama/index.ts')
      return llamaBuildCommand(rest.slice(1), stdout)
    }
    case 'gguf': {
      const { ggufCommand } = await import('../hardware/index.ts')
      return ggufCommand(rest, stdout)
    }
    case '--version':
    case 'version': {
      const { HERD_VERSION } = await import('../version.ts')
      stdout.write(`herd ${HERD_VERSION}\n`)
      return 0
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      stdout.write(USAGE)
      return 0
  }
  stderr.write(`herd: unknown command '${args.join(' ')}'\n\n${USAGE}`)
  return 2
}

main(argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    if (err instanceof HelpRequested) {
      stdout.write(`${COMMAND_USAGE[err.command]}\n`)
      process.exitCode = 0
      return
    }
    if (err instanceof UsageError) {
      stderr.write(`herd ${err.command}: ${err.message}\n\n${COMMAND_USAGE[err.command]}\n`)
      process.exitCode = 2
      return
    }
    stderr.write(`herd: ${err instanceof Error ? err.message : String(err)}\n`)
    exit(1)
  },
)
