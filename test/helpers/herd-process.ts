/**
 * A real herd daemon in its own process (`bin/herd start`: what ships, the bundle in dist/
 * that the suite's global setup keeps fresh, with bin/herd's Node flags), with a temp HERD_HOME,
 * a config and cookbook written for the test, and the real llama-server. Output is kept
 * for assertions and for failure messages.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { stringify } from 'yaml'
import { freePort, ensureLlamaServer } from './llama-server.ts'
import { waitFor } from './poll.ts'

export const ROOT = resolve(import.meta.dirname, '../..')
export const NODE = join(ROOT, 'node_modules/.bin/node')
export const HERD = join(ROOT, 'bin/herd')

export interface HerdProcess {
  url: string
  home: string
  child: ChildProcess
  output(): string
  /** Wait for the process to exit (after a signal sent some other way). */
  waitExit(timeoutMs?: number): Promise<number | null>
  /** Send a signal and wait for the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>
  /** Stop (if running) and remove the home. */
  dispose(): Promise<void>
}

export interface StartHerdOptions {
  /** Cookbook YAML as an object; `model_path` values relative to the home. */
  cookbook: unknown
  /** Config overrides merged into the generated config. */
  config?: Record<string, unknown>
  home?: string
  env?: NodeJS.ProcessEnv
  /** Wait for /readyz (default true). */
  waitReady?: boolean
  /** Run through this wrapper (e.g. ['ip', 'netns', 'exec', ns]). */
  wrapper?: string[]
}

export async function startHerd(options: StartHerdOptions): Promise<HerdProcess> {
  const home = options.home ?? (await mkdtemp(join(tmpdir(), 'herd-e2e-')))
  const port = await freePort()
  const config = {
    node: { name: `node-${port}` },
    llama: { server: await ensureLlamaServer() },
    cookbook: 'cookbook.yaml',
    log_level: 'info',
    ...options.config,
    // The port is the helper's to choose; other http keys may be overridden.
    http: { listen: `127.0.0.1:${port}`, drain_timeout_ms: 5000, ...(options.config?.['http'] as object | undefined) },
  }
  await writeFile(join(home, 'config.yaml'), stringify(config))
  await writeFile(join(home, 'cookbook.yaml'), stringify(options.cookbook))
  const listen = (config.http as { listen: string }).listen
  const args = [...(options.wrapper ?? []), HERD, 'start', '--config', join(home, 'config.yaml')]
  const [command = HERD, ...rest] = args
  const child = spawn(command, rest, { env: { ...process.env, HERD_HOME: home, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)))
  const url = `http://${listen}`
  const proc: HerdProcess = {
    url,
    home,
    child,
    output: () => output,
    async waitExit(timeoutMs = 20_000) {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      try {
        return await exited
      } finally {
        clearTimeout(timer)
      }
    },
    async stop(signal = 'SIGTERM', timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      try {
        return await exited
      } finally {
        clearTimeout(timer)
      }
    },
    async dispose() {
      await proc.stop('SIGTERM')
      if (!options.home) await rm(home, { recursive: true, force: true })
    },
  }
  if (options.waitReady !== false) {
    try {
      await waitFor(
        'herd to be ready',
        async () => {
          if (child.exitCode !== null) throw new Error(`herd exited with ${child.exitCode}: ${output}`)
          const res = await fetch(`${url}/readyz`).catch(() => undefined)
          return res?.status === 200
        },
        { timeoutMs: 30_000 },
      )
    } catch (err: unknown) {
      await proc.dispose()
      throw new Error(`${(err as Error).message}\n--- herd output ---\n${output}`, { cause: err })
    }
  }
  return proc
}
