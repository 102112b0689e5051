/** Stop a process in stages: SIGTERM lets llama-server finish cleanly, SIGKILL makes sure. */
import type { ExitInfo, LlamaProcess } from './spawn.ts'

export async function terminate(proc: LlamaProcess, graceMs: number): Promise<ExitInfo> {
  if (proc.exitInfo !== undefined) return proc.exitInfo
  signal(proc, 'SIGTERM')
  const timer = setTimeout(() => signal(proc, 'SIGKILL'), graceMs)
  try {
    return await proc.exited
  } finally {
    clearTimeout(timer)
  }
}

function signal(proc: LlamaProcess, sig: NodeJS.Signals): void {
  if (proc.exitInfo !== undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return
  try {
    proc.child.kill(sig)
  } catch {
    // Already gone between the check and the kill: the exit handler reports it.
  }
}
