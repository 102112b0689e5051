/**
 * A whole herd daemon (bench/lib/mesh-daemon.ts: src/daemon.ts as `herd start` builds it)
 * in a child process of its own, with its own HERD_HOME, a config written for it (HTTP on
 * 127.0.0.1:0, no GPU telemetry, logging off) and a cookbook.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { startChild, type BenchChild } from './child.ts'

const DAEMON = join(dirname(fileURLToPath(import.meta.url)), 'mesh-daemon.ts')

export interface DaemonChildInit {
  /** Parent folder; the daemon's home is `dir/name`. */
  dir: string
  name: string
  cookbook: unknown
  /** The `mesh` section (`{ enabled: false }` for a lone node). */
  mesh: Record<string, unknown>
  /** `llama.server`: the binary. */
  llama: string
  /** Node flags for the child (e.g. `--max-semi-space-size=…`). */
  execArgv?: string[]
}

export async function startDaemonChild(init: DaemonChildInit): Promise<BenchChild> {
  const home = join(init.dir, init.name)
  await mkdir(home, { recursive: true })
  const config = {
    node: { name: init.name },
    http: { listen: '127.0.0.1:0', drain_timeout_ms: 0 },
    mesh: init.mesh,
    llama: { server: init.llama },
    // No GPU telemetry: the benches are about the request path.
    resources: { nvidia_smi: join(init.dir, 'no-nvidia-smi') },
    cookbook: 'cookbook.yaml',
    log_level: 'silent',
  }
  await writeFile(join(home, 'config.yaml'), stringify(config))
  await writeFile(join(home, 'cookbook.yaml'), stringify(init.cookbook))
  return startChild(DAEMON, ['--home', home, '--config', join(home, 'config.yaml')], {
    timeoutMs: 30_000,
    ...(init.execArgv ? { execArgv: init.execArgv } : {}),
  })
}
