/**
 * What the kernel counts for a bench child, read from /proc (Linux only; elsewhere the
 * numbers are NaN and the tables say n/a): read/write-family system calls, which is where
 * the mesh's per-frame cost shows, and resident memory.
 */
import { readFile } from 'node:fs/promises'

/** read()/write()-family system calls (`syscr` + `syscw` of /proc/PID/io) the process has made so far. */
export async function ioSyscalls(pid: number): Promise<number> {
  try {
    const text = await readFile(`/proc/${pid}/io`, 'utf8')
    return field(text, 'syscr') + field(text, 'syscw')
  } catch {
    return Number.NaN
  }
}

/** Resident set size (`VmRSS` of /proc/PID/status), MiB. */
export async function rssMiB(pid: number): Promise<number> {
  try {
    return field(await readFile(`/proc/${pid}/status`, 'utf8'), 'VmRSS') / 1024
  } catch {
    return Number.NaN
  }
}

function field(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)
  return m === null ? Number.NaN : Number(m[1])
}
