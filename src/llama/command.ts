/**
 * The body of `herd llama build [--git URL [--ref REF]] [--force] [--jobs N] [--verbose]
 * [--cmake-arg X]... [-- cmake args...]`. The CLI hands over argv after `llama build`.
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { HERD_ROOT } from '../paths.ts'
import { buildLlama, DEFAULT_LLAMA_CPP_PACKAGE } from './build.ts'
import { formatBuildEvent } from './progress.ts'

export const LLAMA_BUILD_USAGE = `usage: herd llama build [--git URL [--ref REF]] [--force] [--jobs N] [--verbose]
                        [--cmake-arg ARG]... [-- CMAKE_ARGS...]

Builds llama-server and llama-fit-params from the llama.cpp source bundled in the npm
package named by package.json "herd.llamaCppPackage" (or from --git URL at --ref REF),
and installs them into $HERD_HOME/llama/<key>/ (HERD_HOME defaults to ~/.herd).`

export interface LlamaBuildArgs {
  gitUrl: string | undefined
  ref: string | undefined
  force: boolean
  verbose: boolean
  help: boolean
  jobs: number | undefined
  cmakeArgs: string[]
}

/** Parses the arguments; throws an Error whose message is meant for the user on bad usage. */
export function parseLlamaBuildArgs(argv: readonly string[]): LlamaBuildArgs {
  const args: LlamaBuildArgs = { gitUrl: undefined, ref: undefined, force: false, verbose: false, help: false, jobs: undefined, cmakeArgs: [] }
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] as string
    if (raw === '--') {
      args.cmakeArgs.push(...argv.slice(i + 1))
      break
    }
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1
    const flag = eq > 0 ? raw.slice(0, eq) : raw
    const value = (): string => {
      if (eq > 0) return raw.slice(eq + 1)
      const next = argv[++i]
      if (next === undefined) throw new Error(`${flag} needs a value`)
      return next
    }
    switch (flag) {
      case '--git':
        args.gitUrl = value()
        break
      case '--ref':
        args.ref = value()
        break
      case '--cmake-arg':
        args.cmakeArgs.push(value())
        break
      case '--jobs':
      case '-j': {
        const v = value()
        const n = Number(v)
        if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} expects a positive integer, got ${v}`)
        args.jobs = n
        break
      }
      case '--force':
        args.force = true
        break
      case '--verbose':
      case '-v':
        args.verbose = true
        break
      case '--help':
      case '-h':
        args.help = true
        break
      default:
        throw new Error(`unknown argument: ${raw}`)
    }
  }
  if (args.ref !== undefined && args.gitUrl === undefined) throw new Error('--ref needs --git URL')
  return args
}

export interface LlamaBuildCommandOptions {
  /** Where HERD_HOME is read from (default: process.env). */
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
}

/** Runs `herd llama build`; resolves with the exit code (0 ok, 1 failed, 2 bad usage). */
export async function llamaBuildCommand(argv: string[], out: NodeJS.WritableStream, opts: LlamaBuildCommandOptions = {}): Promise<number> {
  const print = (line: string): void => {
    out.write(`${line}\n`)
  }
  let args: LlamaBuildArgs
  try {
    args = parseLlamaBuildArgs(argv)
  } catch (err: unknown) {
    print(`herd llama build: ${err instanceof Error ? err.message : String(err)}\n\n${LLAMA_BUILD_USAGE}`)
    return 2
  }
  if (args.help) {
    print(LLAMA_BUILD_USAGE)
    return 0
  }
  const env = opts.env ?? process.env
  const home = resolve(env.HERD_HOME || `${homedir()}/.herd`)
  // cmake runs in its own process group, out of reach of the terminal's Ctrl-C: turn the
  // signal into an abort so the compilers stop with us instead of carrying on unseen.
  const interrupted = new AbortController()
  const onSignal = (): void => interrupted.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const signal = opts.signal ? AbortSignal.any([opts.signal, interrupted.signal]) : interrupted.signal
  try {
    const result = await buildLlama({
      home,
      llamaCppPackage: await configuredLlamaCppPackage(),
      gitUrl: args.gitUrl,
      ref: args.ref,
      cmakeArgs: args.cmakeArgs,
      force: args.force,
      jobs: args.jobs,
      signal,
      onProgress: (event) => {
        if (event.phase !== 'log' || args.verbose) print(formatBuildEvent(event))
      },
    })
    print(`llama-server ${result.serverPath}`)
    if (!result.alreadyInstalled) print(`built ${result.key} in ${(result.elapsedMs / 1000).toFixed(1)} s`)
    return 0
  } catch (err: unknown) {
    if (signal.aborted) print('herd llama build: interrupted; the build tree is kept, the next run continues it')
    else print(`herd llama build failed: ${err instanceof Error ? err.message : String(err)}`)
    return 1
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** package.json `herd.llamaCppPackage`, so the pinned llama.cpp moves with the project. */
export async function configuredLlamaCppPackage(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(HERD_ROOT, 'package.json'), 'utf8')) as { herd?: { llamaCppPackage?: unknown } }
    const spec = pkg.herd?.llamaCppPackage
    return typeof spec === 'string' && spec ? spec : DEFAULT_LLAMA_CPP_PACKAGE
  } catch (err: unknown) {
    // Installed without its package.json (bundled): the default is the same pin.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_LLAMA_CPP_PACKAGE
    throw err
  }
}
