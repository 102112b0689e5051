/**
 * A whole herd daemon in a child process of its own, with its own HERD_HOME, a config
 * written for it (no GPU telemetry, logging off) and a cookbook: either bench/lib/mesh-daemon.ts
 * running dist/daemon.js (the bundle bin/herd runs, rebuilt first if stale) with the
 * probes the CPU benches use, or bin/herd itself (startBinHerd: what bench:memory measures).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { buildIfStale, DIST } from '../../scripts/build.ts'
import { makeFakeLlamaBinary, type FakeLlamaEnv } from '../../test/fixtures/fake-llama.ts'
import { freePort } from '../../test/helpers/llama-server.ts'
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
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

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
  const script = await readFile(join(ROOT, 'bin', 'herd'), 'utf8')
  const exec = script.split('\n').find((l) => l.startsWith('exec '))
  return (exec ?? '').split(/\s+/).filter((t) => t.startsWith('--') && !t.startsWith('--disable-warning'))
}

async function writeHome(init: DaemonChildInit, listen: string): Promise<{ home: string; config: string }> {
  const home = join(init.dir, init.name)
  await mkdir(home, { recursive: true })
  const config = {
    node: { name: init.name },
    http: { listen, drain_timeout_ms: 0 },
    mesh: init.mesh,
    llama: { server: init.llama },
    // No GPU telemetry: the benches are about the request path.
    resources: { nvidia_smi: join(init.dir, 'no-nvidia-smi') },
    cookbook: 'cookbook.yaml',
    log_level: 'silent',
  }
  await writeFile(join(home, 'config.yaml'), stringify(config))
  await writeFile(join(home, 'cookbook.yaml'), stringify(init.cookbook))
  return { home, config: join(home, 'config.yaml') }
}

/**
 * The daemon in a bench child (mesh-daemon.ts) with the parent's probes: dist/daemon.js, or
 * src/daemon.ts when `HERD_BENCH_DAEMON=src` (to compare the two in one window).
 */
export async function startDaemonChild(init: DaemonChildInit): Promise<BenchChild> {
  const { home, config } = await writeHome(init, '127.0.0.1:0')
  const fromSrc = process.env['HERD_BENCH_DAEMON'] === 'src'
  if (!fromSrc) await buildIfStale()
  const daemon = fromSrc ? join(ROOT, 'src', 'daemon.ts') : join(DIST, 'daemon.js')
  return startChild(DAEMON, ['--daemon', daemon, '--home', home, '--config', config], {
    timeoutMs: 30_000,
    ...(init.execArgv ? { execArgv: init.execArgv } : {}),
  })
}

/** A daemon started by `bin/herd start` (or, with `main`, by `node FLAGS MAIN start`), ready. */
export interface HerdChild {
  url: string
  pid: number
  stop(): Promise<void>
}

/**
 * `bin/herd start` as a user runs it (dist/ rebuilt first if stale, so bin/herd runs the
 * bundle): the process measured is exactly what ships. With `main`, Node runs that file
 * (e.g. src/cli/main.ts) with `execArgv` (default: bin/herd's flags) instead, to compare.
 */
export async function startBinHerd(init: DaemonChildInit & { main?: string }): Promise<HerdChild> {
  const port = await freePort()
  const { home, config } = await writeHome(init, `127.0.0.1:${port}`)
  await buildIfStale()
  const args = ['start', '--config', config]
  const env = { ...process.env, HERD_HOME: home }
  const child =
    init.main === undefined && init.execArgv === undefined
      ? spawn(join(ROOT, 'bin', 'herd'), args, { env, stdio: ['ignore', 'ignore', 'inherit'] })
      : spawn(
          process.execPath,
          ['--disable-warning=ExperimentalWarning', ...(init.execArgv ?? (await daemonNodeFlags())), init.main ?? join(DIST, 'main.js'), ...args],
          { env, stdio: ['ignore', 'ignore', 'inherit'] },
        )
  const exited = once(child, 'exit')
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    // A daemon that does not stop is killed; a bench must not leave servers behind.
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`herd exited with ${child.exitCode} before it was ready`)
    const res = await fetch(`${url}/readyz`).catch(() => undefined)
    if (res?.status === 200) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error('herd was not ready within 30 s')
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return { url, pid: child.pid ?? -1, stop }
}
