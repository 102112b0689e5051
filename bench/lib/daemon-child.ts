/**
 * A whole herd daemon (bench/lib/mesh-daemon.ts: src/daemon.ts as `herd start` builds it)
 * in a child process of its own, with its own HERD_HOME, a config written for it (HTTP on
 * 127.0.0.1:0, no GPU telemetry, logging off) and a cookbook.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { makeFakeLlamaBinary, type FakeLlamaEnv } from '../../test/fixtures/fake-llama.ts'
import { startChild, type BenchChild } from './child.ts'

/**
 * The fake llama-server answers `--version` by starting a server on :8080 (it has no such
 * flag), which the daemon's binary check would wait 15 s on; this wrapper answers it.
 */
export async function fakeLlamaServer(dir: string, env: FakeLlamaEnv = { FAKE_TOKEN_RATE: 0 }): Promise<string> {
  const inner = await makeFakeLlamaBinary(dir, env, 'fake-llama-inner')
  const path = join(dir, 'llama-server')
  await writeFile(path, ['#!/bin/sh', 'if [ "$1" = "--version" ]; then echo "version: 1 (benchfake)" >&2; exit 0; fi', `exec '${inner}' "$@"`, ''].join('\n'), {
    mode: 0o755,
  })
  return path
}

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
  /** Node flags for the child. @default bin/herd's (see daemonNodeFlags) */
  execArgv?: string[]
}

/**
 * The Node flags the daemon runs with: those on bin/herd's exec line (read from that file,
 * so a bench measures what `herd start` runs), all but --disable-warning; or, when set,
 * `HERD_BENCH_NODE_FLAGS` (space-separated; empty for Node's defaults), to compare.
 */
export async function daemonNodeFlags(): Promise<string[]> {
  const override = process.env['HERD_BENCH_NODE_FLAGS']
  if (override !== undefined) return override.split(/\s+/).filter(Boolean)
  const script = await readFile(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'herd'), 'utf8')
  const exec = script.split('\n').find((l) => l.startsWith('exec '))
  return (exec ?? '').split(/\s+/).filter((t) => t.startsWith('--') && !t.startsWith('--disable-warning'))
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
