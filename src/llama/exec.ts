/**
 * Running the build tools (git, npm, tar, cmake) as plain child processes. Each runs in its
 * own process group so that an abort reaches the compilers that `cmake --build` forks, not
 * only cmake itself; a build left running would hold both cores of a small machine.
 */
import { spawn } from 'node:child_process'
import { HerdError } from '../errors/index.ts'

export interface RunOptions {
  cwd?: string
  signal?: AbortSignal
  env?: NodeJS.ProcessEnv
  /** Called with each complete line of stdout and stderr, as it arrives. */
  onLine?: (line: string) => void
  /** How many trailing lines to keep for the error message (default 40). */
  tailLines?: number
  /** Grace period between SIGTERM and SIGKILL on abort (default 2000 ms). */
  killAfterMs?: number
}

export interface RunResult {
  stdout: string
  stderr: string
}

/** Runs `command args…`, resolving with its output when it exits 0, rejecting otherwise. */
export async function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const { signal } = opts
  signal?.throwIfAborted()
  const keep = opts.tailLines ?? 40
  const tail: string[] = []
  let stdout = ''
  let stderr = ''
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const lineSplitter = (append: (chunk: string) => void): ((chunk: Buffer) => void) => {
    let partial = ''
    return (chunk: Buffer) => {
      const text = chunk.toString('utf8')
      append(text)
      partial += text
      const lines = partial.split(/\r?\n|\r/)
      partial = lines.pop() ?? ''
      for (const line of lines) {
        tail.push(line)
        if (tail.length > keep) tail.shift()
        opts.onLine?.(line)
      }
    }
  }
  child.stdout.on(
    'data',
    lineSplitter((t) => {
      stdout += t
    }),
  )
  child.stderr.on(
    'data',
    lineSplitter((t) => {
      stderr += t
    }),
  )

  let killTimer: NodeJS.Timeout | undefined
  const onAbort = (): void => {
    killGroup(child.pid, 'SIGTERM')
    killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), opts.killAfterMs ?? 2000)
    killTimer.unref()
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const { code, sig } = await new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (code, sig) => resolve({ code, sig }))
    })
    signal?.throwIfAborted()
    if (code !== 0) {
      const how = sig ? `was killed by ${sig}` : `exited with code ${code}`
      throw new HerdError('internal', `${command} ${args.join(' ')} ${how}\n${tail.join('\n')}`)
    }
    return { stdout, stderr }
  } catch (err: unknown) {
    if (err instanceof HerdError || signal?.aborted) throw err
    throw new HerdError('internal', `could not run ${command}: ${String(err)}`, { cause: err })
  } finally {
    signal?.removeEventListener('abort', onAbort)
    // The group may outlive its leader (a compiler still finishing); make sure nothing is left.
    if (signal?.aborted) killGroup(child.pid, 'SIGKILL')
    if (killTimer) clearTimeout(killTimer)
  }
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, sig)
  } catch (err: unknown) {
    // ESRCH: the group is already gone, which is what we wanted.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}
