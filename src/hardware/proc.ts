/**
 * System and per-process memory from /proc. MemAvailable (not MemFree) is what the kernel
 * can hand out without swapping, page cache included, so it is the honest "free".
 */
import { readFile } from 'node:fs/promises'

export interface SysMem {
  totalMb: number
  freeMb: number
}

export interface ProcMem {
  /** Resident set now (VmRSS), MiB. */
  rssMb: number
  /** Peak resident set since start (VmHWM), MiB. */
  hwmMb: number
}

const kbField = (text: string, key: string): number | undefined => {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text)
  return m ? Number(m[1]) : undefined
}

/** Parses /proc/meminfo text. Without MemAvailable (kernels before 3.14) free + cached stands in. */
export function parseMeminfo(text: string): SysMem {
  const total = kbField(text, 'MemTotal') ?? 0
  const available = kbField(text, 'MemAvailable') ?? (kbField(text, 'MemFree') ?? 0) + (kbField(text, 'Cached') ?? 0)
  return { totalMb: Math.floor(total / 1024), freeMb: Math.floor(available / 1024) }
}

/** Parses /proc/<pid>/status text; undefined for a kernel thread or zombie (no Vm lines). */
export function parseProcStatus(text: string): ProcMem | undefined {
  const rss = kbField(text, 'VmRSS')
  if (rss === undefined) return undefined
  return { rssMb: Math.round(rss / 1024), hwmMb: Math.round((kbField(text, 'VmHWM') ?? rss) / 1024) }
}

export async function readSysMem(procRoot = '/proc'): Promise<SysMem | undefined> {
  try {
    return parseMeminfo(await readFile(`${procRoot}/meminfo`, 'utf8'))
  } catch (err: unknown) {
    // Not Linux, or /proc not mounted: report nothing rather than a made-up figure.
    if (isCode(err, 'ENOENT')) return undefined
    throw err
  }
}

/** Memory of one process; undefined once it has gone. */
export async function readProcMem(pid: number, procRoot = '/proc'): Promise<ProcMem | undefined> {
  try {
    return parseProcStatus(await readFile(`${procRoot}/${pid}/status`, 'utf8'))
  } catch (err: unknown) {
    // Gone between listing and reading (ENOENT, or ESRCH while it is being reaped).
    if (isCode(err, 'ENOENT') || isCode(err, 'ESRCH')) return undefined
    throw err
  }
}

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code
}
