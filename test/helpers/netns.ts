/**
 * Run processes inside a private network namespace, so mDNS and multi-node tests never
 * touch the machine's real interfaces. The namespace has only loopback, with multicast
 * switched on and routed (mDNS needs 224.0.0.251), and is deleted afterwards.
 *
 * @example
 * await withNetns(async (ns) => {
 *   const a = ns.spawn(process.execPath, ['node.ts'])
 *   await a.waitForLine((l) => l.includes('ready'), 5000)
 * })
 *
 * Needs root and iproute2 (`ip netns`); check `netnsSupport()` to skip elsewhere.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

const PREFIX = 'herd-test-'

export interface NsChild {
  readonly process: ChildProcess
  /** Every stdout line so far. */
  readonly lines: readonly string[]
  /** stderr so far (for failure messages). */
  stderr(): string
  /** Resolves with the first stdout line (past or future) that matches; rejects on timeout or exit. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>
}

export interface Netns {
  readonly name: string
  /** Starts `command` inside the namespace. It is killed if this process dies (pdeathsig) and stopped by `withNetns` at the end. */
  spawn(command: string, args?: readonly string[], options?: Omit<SpawnOptions, 'stdio'>): NsChild
  /** Runs a command inside the namespace to completion. */
  run(command: string, args?: readonly string[]): { code: number | null; stdout: string; stderr: string }
}

/** Whether namespaces can be made here; a reason when not. */
export function netnsSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root' }
  const ip = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  if (ip.error !== undefined || ip.status !== 0) return { ok: false, reason: `ip netns unavailable: ${ip.error?.message ?? ip.stderr}` }
  if (spawnSync('setpriv', ['--version']).status !== 0) return { ok: false, reason: 'setpriv (util-linux) missing' }
  return { ok: true }
}

export async function withNetns<T>(fn: (ns: Netns) => Promise<T>): Promise<T> {
  pruneLeftovers()
  const name = `${PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`
  const children: NsChild[] = []
  ip(['netns', 'add', name])
  try {
    ip(['-n', name, 'link', 'set', 'lo', 'up'])
    ip(['-n', name, 'link', 'set', 'lo', 'multicast', 'on'])
    ip(['-n', name, 'route', 'add', '224.0.0.0/4', 'dev', 'lo'])
    const ns: Netns = {
      name,
      spawn: (command, args = [], options = {}) => {
        const child = startChild(name, command, args, options)
        children.push(child)
        return child
      },
      run: (command, args = []) => {
        const r = spawnSync('ip', ['netns', 'exec', name, command, ...args], { encoding: 'utf8', timeout: 30_000 })
        return { code: r.status, stdout: r.stdout, stderr: r.stderr }
      },
    }
    return await fn(ns)
  } finally {
    await Promise.all(children.map((c) => c.stop()))
    ip(['netns', 'del', name])
  }
}

function startChild(ns: string, command: string, args: readonly string[], options: Omit<SpawnOptions, 'stdio'>): NsChild {
  // ip execs setpriv, which execs the command: one process, whose parent is us, so
  // pdeathsig kills it even if this test process is SIGKILLed.
  const proc = spawn('ip', ['netns', 'exec', ns, 'setpriv', '--pdeathsig', 'KILL', '--', command, ...args], { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const waiters = new Set<() => void>()
  let stderr = ''
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-20_000)
  })
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    lines.push(line)
    for (const w of waiters) w()
  })
  const exited = once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }))
  let hasExited = false
  void exited.then(() => {
    hasExited = true
    for (const w of waiters) w()
  })
  return {
    process: proc,
    lines,
    stderr: () => stderr,
    exited,
    waitForLine(match, timeoutMs) {
      return new Promise((resolve, reject) => {
        let seen = 0
        const check = (): void => {
          for (; seen < lines.length; seen++) {
            const line = lines[seen]!
            if (match(line)) return done(undefined, line)
          }
          if (hasExited) done(new Error(`process exited before printing the expected line; stderr:\n${stderr}`))
        }
        const timer = setTimeout(
          () => done(new Error(`timed out after ${timeoutMs} ms waiting for a line; last lines:\n${lines.slice(-5).join('\n')}\nstderr:\n${stderr}`)),
          timeoutMs,
        )
        const done = (err: Error | undefined, line?: string): void => {
          clearTimeout(timer)
          waiters.delete(check)
          if (err !== undefined) reject(err)
          else resolve(line!)
        }
        waiters.add(check)
        check()
      })
    },
    async stop(graceMs = 2000) {
      if (hasExited) return
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    },
  }
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 })
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr || r.error?.message}`)
}

/** Deletes namespaces left by test processes that died before cleaning up. */
function pruneLeftovers(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const pid = Number(name.slice(PREFIX.length).split('-')[0])
    if (!name.startsWith(PREFIX) || !Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue
    spawnSync('ip', ['netns', 'del', name])
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
