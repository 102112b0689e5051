/**
 * `<runtimeDir>/instances.json`: the llama-server processes this daemon runs. pdeathsig
 * normally kills them with the daemon; where it could not (no setpriv), the next daemon
 * reads this file and kills what is left, so a SIGKILLed daemon does not leak VRAM.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from 'pino'

export interface PidRecord {
  pid: number
  instanceId: string
  profileId: string
  /** The llama-server binary herd launched. */
  binary: string
  startedAt: number
  /** /proc/<pid>/cmdline once the server ran (after setpriv/exec); guards against pid reuse. */
  cmdline?: string[]
  /** /proc/<pid>/stat start time (clock ticks since boot); a reused pid has another. */
  procStart?: string
}

interface PidFileBody {
  daemonPid: number
  instances: PidRecord[]
}

export const PID_FILE = 'instances.json'

export class PidFile {
  readonly path: string
  private readonly dir: string
  private readonly logger: Logger
  private chain: Promise<void> = Promise.resolve()
  private queued = false

  constructor(dir: string, logger: Logger) {
    this.dir = dir
    this.path = join(dir, PID_FILE)
    this.logger = logger
  }

  /** Write the current set soon; calls close together collapse into one write, in order. */
  schedule(records: () => PidRecord[]): void {
    if (this.queued) return
    this.queued = true
    this.chain = this.chain.then(async () => {
      this.queued = false
      await this.write(records())
    })
  }

  /** Wait for pending writes, then delete the file (clean shutdown: nothing left to reap). */
  async remove(): Promise<void> {
    await this.chain
    await rm(this.path, { force: true })
  }

  private async write(instances: PidRecord[]): Promise<void> {
    const body: PidFileBody = { daemonPid: process.pid, instances }
    const tmp = `${this.path}.${process.pid}.tmp`
    try {
      await mkdir(this.dir, { recursive: true })
      await writeFile(tmp, JSON.stringify(body, null, 2))
      // rename is atomic: a reader sees the old file or the new one, never half of one.
      await rename(tmp, this.path)
    } catch (err: unknown) {
      this.logger.warn({ err, path: this.path }, 'could not write the instance pid file')
    }
  }
}

/** Kill leftovers recorded by a previous daemon; returns the pids killed. */
export async function reapLeftovers(dir: string, o: { logger: Logger; signal?: AbortSignal; waitMs?: number }): Promise<number[]> {
  const path = join(dir, PID_FILE)
  let records: PidRecord[]
  try {
    records = parseRecords(JSON.parse(await readFile(path, 'utf8')))
  } catch (err: unknown) {
    if ((err as { code?: unknown } | null)?.code !== 'ENOENT') o.logger.warn({ err, path }, 'unreadable instance pid file, ignored')
    return []
  }
  const killed: number[] = []
  for (const r of records) {
    if (r.pid === process.pid || !(await isOurs(r))) continue
    try {
      process.kill(r.pid, 'SIGKILL')
      killed.push(r.pid)
      o.logger.warn({ pid: r.pid, instance: r.instanceId }, 'killed a llama-server left over by a previous daemon')
    } catch {
      // It went away on its own.
    }
  }
  // Not our children, so no exit event: poll until the kernel has them gone.
  const deadline = Date.now() + (o.waitMs ?? 2_000)
  while (killed.some(alive) && Date.now() < deadline) await delay(10, undefined, { signal: o.signal })
  await rm(path, { force: true })
  return killed
}

/** Alive, same process start time when recorded, and running the binary we launched. */
async function isOurs(r: PidRecord): Promise<boolean> {
  if (!alive(r.pid)) return false
  const now = await procInfo(r.pid)
  if (now === undefined) return false
  if (r.procStart !== undefined && now.procStart !== r.procStart) return false
  if (r.cmdline !== undefined && sameArgs(now.cmdline, r.cmdline)) return true
  return now.cmdline.includes(r.binary)
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: unknown) {
    // EPERM: it exists but is someone else's, which still counts as alive.
    return (err as { code?: unknown } | null)?.code === 'EPERM'
  }
}

/** Command line and start time of a live process, from /proc. */
export async function procInfo(pid: number): Promise<{ cmdline: string[]; procStart: string } | undefined> {
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '')
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (comm) may hold spaces and parens; fields after the last ')' are plain. starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { cmdline, procStart: fields[19] ?? '' }
  } catch {
    return undefined
  }
}

function sameArgs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function parseRecords(body: unknown): PidRecord[] {
  const list = typeof body === 'object' && body !== null ? (body as { instances?: unknown }).instances : undefined
  if (!Array.isArray(list)) return []
  return list.filter((r: unknown): r is PidRecord => {
    const o = r as Partial<PidRecord> | null
    return typeof o === 'object' && o !== null && Number.isInteger(o.pid) && (o.pid ?? 0) > 1 && typeof o.binary === 'string'
  })
}
