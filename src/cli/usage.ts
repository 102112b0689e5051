/**
 * Per-command usage and flag parsing for the CLI: `--help` prints a command's usage and
 * exits 0; a flag it does not know prints the problem and the usage on stderr and exits
 * 2, instead of Node's raw parser error.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** Usage text per command, as `herd <command> --help` prints it. */
export const COMMAND_USAGE = {
  start: `usage: herd start [--config FILE]

Runs the daemon until SIGTERM or SIGINT, then drains (in-flight requests finish within
http.drain_timeout_ms) and exits. --config defaults to $HERD_HOME/config.yaml.`,
  demo: `usage: herd demo

Writes the tiny demo model if it is missing, then serves cookbook/demo.yaml on 127.0.0.1:8080.`,
  init: `usage: herd init [--join SECRET|FILE] [--name NAME] [--force]

Writes $HERD_HOME/config.yaml with the mesh on, and a fresh cluster secret (mode 600).
--join uses the secret printed by the first machine's herd init instead.`,
  nodes: `usage: herd nodes [--config FILE] [--url URL] [--json]

The mesh as a running node sees it. The node is found from the config's http.listen
(and its first API key), or at --url.`,
  models: `usage: herd models [--config FILE] [--url URL] [--json]

Models served anywhere in the mesh, as a running node lists them.`,
  inventory: `usage: herd inventory [--config FILE] [--url URL] [--key KEY] [--json]

Every model in the mesh, as a running node's /cluster/inventory lists it: GGUF facts
(architecture, parameters, quantisation, trained context, size), the nodes that have its
file and those serving it, herd's memory estimate and the memory learned; then every
external backend model. The key is --key, else the config's first admin key, else its first API key.`,
  ps: `usage: herd ps [--config FILE] [--url URL] [--logs] [--json]

This node's llama-server instances (and, with --logs, their recent output).`,
  keys: `usage: herd keys create --name NAME [--models 'qwen*,coder'] [--rpm N] [--tpm N]
                        [--tokens-per-day N] [--tokens-per-month N] [--budget 10usd/month]
                        [--budget-action block|downgrade] [--no-egress] [--expires 30d]
       herd keys list [--all]
       herd keys show ID|NAME
       herd keys update ID|NAME [the flags of create; none clears a limit; --egress, --expires never]
       herd keys revoke ID|NAME
  every command: [--config FILE] [--url URL] [--key ADMIN_KEY] [--json]

Tenant keys on a running node (its /admin/keys), replicated to every node of the mesh.
create prints the secret once. --rpm and --tpm count per minute (tenants.rate_window_ms),
tokens per day and month per UTC day and calendar month. The node is found from the
config's http.listen, and the admin key is --key, else the config's first http.admin_keys,
else its first http.api_keys.`,
  usage: `usage: herd usage [--by key|model|node|day|hour[,...]] [--since 7d] [--json|--csv]
                  [--config FILE] [--url URL] [--key ADMIN_KEY]

Tokens, requests, cache hits and spend under tenant keys, from a running node's usage
ledger (its /admin/usage), per group (default --by key) over the last --since (default 7d).
Each node counts the answers its own clients got (whichever node served them).`,
  top: `usage: herd top [--interval SECONDS] [--once] [--config FILE] [--url URL] [--key KEY]

The mesh live in the terminal, like htop: nodes (status, uptime, heartbeat age, circuit,
requests and tokens per second), each GPU's memory and the system memory as bars, models
(where loaded, ready instances, slots busy/total, queue, tokens per second), external
backends. Refreshes every --interval seconds (default 1); q or Ctrl-C quits. A node that
stops answering shows an error line and is retried. --once (or a stdout that is not a
terminal) prints one frame and exits. The node and key are found as for herd nodes
(--key first).`,
} as const

export type CommandName = keyof typeof COMMAND_USAGE

/** Bad usage: the CLI prints the message and the command's usage on stderr and exits 2. */
export class UsageError extends Error {
  readonly command: CommandName
  constructor(command: CommandName, message: string) {
    super(message)
    this.name = 'UsageError'
    this.command = command
  }
}

/** `--help` was given: the CLI prints the usage on stdout and exits 0. */
export class HelpRequested extends Error {
  readonly command: CommandName
  constructor(command: CommandName) {
    super(`help for ${command}`)
    this.name = 'HelpRequested'
    this.command = command
  }
}

type Options = NonNullable<ParseArgsConfig['options']>

/** parseArgs with `--help`/`-h` on every command and errors that name the command. */
export function parseCommandArgs<O extends Options>(command: CommandName, args: string[], options: O, allowPositionals = false) {
  if (args.includes('--help') || args.includes('-h')) throw new HelpRequested(command)
  try {
    return parseArgs({ args, options, strict: true, allowPositionals })
  } catch (err: unknown) {
    // Node's messages ("Unknown option '--x'. To specify a positional argument starting
    // with a '-', place it at the end of the command after '--'…") lead with what matters.
    const message = err instanceof Error ? (err.message.split('. ')[0] ?? err.message) : String(err)
    throw new UsageError(command, message)
  }
}
