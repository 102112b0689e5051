/**
 * Start a bench server (fake upstream, herd, bare proxy) in a child process of its own,
 * so it does not share an event loop with the load generator, and read the URL it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import type { ProbeReply, ProbeRequest } from './probe.ts'

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

export interface BenchChild {
  url: string
  pid: number
  /** CPU time (user + system, all threads, µs) the child has used so far. */
  cpuUs(): Promise<number>
  /** Start a V8 CPU profile in the child. */
  profileStart(): Promise<void>
  /** Stop it and have the child write it (a .cpuprofile) to `file`. */
  profileStop(file: string): Promise<void>
  stop(): Promise<void>
}

export async function startChild(script: string, args: string[], options: { timeoutMs?: number; execArgv?: string[] } = {}): Promise<BenchChild> {
  // process.execPath: the same Node 22 that runs the bench (type stripping included).
  const child = spawn(process.execPath, [...(options.execArgv ?? []), script, ...args], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
  const url = await firstLine(child, options.timeoutMs ?? 10_000)
  const call = probes(child)
  return {
    url,
    pid: child.pid ?? -1,
    cpuUs: () => call({ type: 'cpu' }),
    profileStart: async () => void (await call({ type: 'profile-start' })),
    profileStop: async (file) => void (await call({ type: 'profile-stop', file })),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.send({ id: 0, type: 'stop' } satisfies ProbeRequest)
      // A child that ignores the request is killed; a bench must not leave servers behind.
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    },
  }
}

async function firstLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  if (!child.stdout) throw new Error('child has no stdout')
  const lines = createInterface({ input: child.stdout })
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    const [line] = (await Promise.race([
      once(lines, 'line', { signal }),
      once(child, 'exit', { signal }).then(([code]) => {
        throw new Error(`bench child exited with ${String(code)} before printing its URL`)
      }),
    ])) as [string]
    return line.trim()
  } catch (err: unknown) {
    child.kill('SIGKILL')
    throw err
  } finally {
    lines.close()
  }
}

/** Request/reply over the IPC channel, matched by id. */
function probes(child: ChildProcess): (req: DistributiveOmit<ProbeRequest, 'id'>) => Promise<number> {
  let next = 1
  const waiting = new Map<number, { resolve: (v: number) => void; reject: (e: Error) => void }>()
  child.on('message', (msg: ProbeReply) => {
    const w = waiting.get(msg.id)
    if (!w) return
    waiting.delete(msg.id)
    if (msg.error !== undefined) w.reject(new Error(msg.error))
    else w.resolve(msg.value ?? 0)
  })
  child.once('exit', () => {
    for (const w of waiting.values()) w.reject(new Error('bench child exited'))
    waiting.clear()
  })
  return (req) =>
    new Promise<number>((resolve, reject) => {
      const id = next++
      waiting.set(id, { resolve, reject })
      child.send({ ...req, id })
    })
}
