/**
 * Start one llama-server process. Under `setpriv --pdeathsig KILL` the kernel kills it when
 * the daemon dies, even by SIGKILL, so a crashed daemon leaves no orphan holding VRAM.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { LogRing } from './log-ring.ts'

export interface ExitInfo {
  code: number | null
  signal: string | null
}

export interface LlamaProcess {
  readonly child: ChildProcess
  readonly pid: number | undefined
  /** The command actually run (setpriv prefix included). */
  readonly argv: readonly string[]
  /** Resolves once the process is gone and its output is drained. Never rejects. */
  readonly exited: Promise<ExitInfo>
  /** Set when it has exited. */
  exitInfo: ExitInfo | undefined
}

export interface SpawnOptions {
  binary: string
  modelPath: string | undefined
  args: readonly string[]
  /** Added to this process's environment (placement: `CUDA_VISIBLE_DEVICES`…). */
  env?: Record<string, string>
  host: string
  port: number
  /** Path of setpriv, or undefined to run the binary directly. */
  setpriv: string | undefined
  log: LogRing
}

/** After 'exit', output still in the pipe is worth waiting for (spawn-failure messages), but not forever. */
const CLOSE_AFTER_EXIT_MS = 200

export function llamaArgv(o: Pick<SpawnOptions, 'binary' | 'modelPath' | 'args' | 'host' | 'port' | 'setpriv'>): string[] {
  const server = [o.binary, ...(o.modelPath !== undefined ? ['-m', o.modelPath] : []), ...o.args, '--host', o.host, '--port', String(o.port)]
  return o.setpriv !== undefined ? [o.setpriv, '--pdeathsig', 'KILL', '--', ...server] : server
}

export function spawnLlama(o: SpawnOptions): LlamaProcess {
  const argv = llamaArgv(o)
  const [command, ...rest] = argv as [string, ...string[]]
  // Own process group: a Ctrl-C on the daemon's terminal must not hit the servers before
  // the daemon has drained them.
  const child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: o.env ? { ...process.env, ...o.env } : process.env })
  child.stdout?.on('data', (c: Buffer) => o.log.push(c))
  child.stderr?.on('data', (c: Buffer) => o.log.push(c))

  let exitInfo: ExitInfo | undefined
  const exited = new Promise<ExitInfo>((resolve) => {
    let timer: NodeJS.Timeout | undefined
    const finish = (): void => {
      if (timer !== undefined) clearTimeout(timer)
      o.log.flush()
      const info = exitInfo ?? { code: child.exitCode, signal: child.signalCode }
      proc.exitInfo = info
      resolve(info)
    }
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal }
      timer = setTimeout(finish, CLOSE_AFTER_EXIT_MS)
    })
    child.once('close', finish)
    child.once('error', (err: Error) => {
      // ENOENT/EACCES: no process ever ran, so no 'exit' comes; 'close' still follows.
      o.log.add(`herd: could not start ${command}: ${err.message}`)
      exitInfo ??= { code: null, signal: null }
    })
  })
  const proc: LlamaProcess = { child, pid: child.pid, argv, exited, exitInfo: undefined }
  return proc
}
