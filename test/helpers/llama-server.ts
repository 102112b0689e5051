/**
 * A real llama-server for the end-to-end suites: `HERD_TEST_LLAMA_SERVER`, else what
 * `findLlamaServer` finds in auto mode under HERD_HOME (default ~/.herd), else a build
 * (minutes; progress goes to stderr). Callable from a vitest globalSetup (this file's
 * `setup`) and from each test file: the answer is cached per process and exported through
 * the environment, so workers started after a globalSetup skip the search.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { buildLlama, configuredLlamaCppPackage, findLlamaServer, formatBuildEvent } from '../../src/llama/index.ts'

const ENV_KEY = 'HERD_TEST_LLAMA_SERVER'
let cached: Promise<string> | undefined

/** The path of a llama-server that runs on this machine. */
export function ensureLlamaServer(opts: { signal?: AbortSignal } = {}): Promise<string> {
  cached ??= locate(opts.signal).then(
    (path) => {
      process.env[ENV_KEY] = path
      return path
    },
    (err: unknown) => {
      cached = undefined
      throw err
    },
  )
  return cached
}

/** vitest globalSetup entry: resolve (or build) once before any worker starts. */
export async function setup(): Promise<void> {
  await ensureLlamaServer()
}

async function locate(signal?: AbortSignal): Promise<string> {
  const configured = process.env[ENV_KEY]
  const home = process.env.HERD_HOME || join(homedir(), '.herd')
  if (configured) return (await findLlamaServer({ configured, home, signal }))?.serverPath ?? configured
  const found = await findLlamaServer({ configured: 'auto', home, signal })
  if (found) return found.serverPath
  process.stderr.write(`no llama-server found; building one under ${home}/llama (this takes minutes)\n`)
  let lastPercent = -1
  const built = await buildLlama({
    home,
    llamaCppPackage: await configuredLlamaCppPackage(),
    signal,
    onProgress: (event) => {
      // Every tenth percent is enough to show life without flooding the test output.
      if (event.phase === 'log') return
      if (event.phase === 'build') {
        if (event.percent < lastPercent + 10 && event.percent !== 100) return
        lastPercent = event.percent
      }
      process.stderr.write(`${formatBuildEvent(event)}\n`)
    },
  })
  return built.serverPath
}

/** A free TCP port on 127.0.0.1 (the OS picks; a tiny race is acceptable in tests). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

export interface RunningLlamaServer {
  url: string
  port: number
  child: ChildProcess
  /** Milliseconds from spawn until /health answered 200. */
  readyMs: number
  /** Everything it printed so far. */
  log: () => string
  /** SIGTERM, then SIGKILL after 3 s; resolves once it has exited. */
  stop: () => Promise<void>
}

/** Spawns llama-server on a free port with `args` and waits (with a deadline) for /health. */
export async function startLlamaServer(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<RunningLlamaServer> {
  const binary = await ensureLlamaServer()
  const port = await freePort()
  const started = performance.now()
  const child = spawn(binary, ['--host', '127.0.0.1', '--port', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(timer)
  }
  const url = `http://127.0.0.1:${port}`
  const deadline = started + (opts.timeoutMs ?? 20_000)
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`llama-server exited with ${child.exitCode}:\n${output}`)
      if (performance.now() > deadline) throw new Error(`llama-server not healthy in time:\n${output}`)
      const ok = await fetch(`${url}/health`).then(
        async (r) => (await r.arrayBuffer(), r.ok),
        () => false,
      )
      if (ok) break
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  } catch (err: unknown) {
    await stop()
    throw err
  }
  return { url, port, child, readyMs: performance.now() - started, log: () => output, stop }
}
