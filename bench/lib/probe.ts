/**
 * The IPC side of a bench child: answers the parent's probes (CPU used so far; start and
 * stop a V8 CPU profile of just the measured window), and exits when the parent asks or
 * goes away, so an interrupted bench leaves no servers behind.
 */
import { writeFile } from 'node:fs/promises'
import type { Session } from 'node:inspector/promises'

/** A request from the parent; the child answers `{ id, value }` or `{ id, error }`. */
export type ProbeRequest =
  { id: number; type: 'cpu' } | { id: number; type: 'profile-start' } | { id: number; type: 'profile-stop'; file: string } | { id: number; type: 'stop' }

export interface ProbeReply {
  id: number
  value?: number
  error?: string
}

export function serveProbes(close: () => void): void {
  if (!process.send) return
  let session: Session | undefined
  const stop = (): void => {
    close()
    process.exit(0)
  }
  const answer = async (msg: ProbeRequest): Promise<number> => {
    switch (msg.type) {
      case 'cpu': {
        const u = process.cpuUsage()
        return u.user + u.system
      }
      case 'profile-start':
        // Loaded only when asked: the inspector is not part of what a daemon's memory is measured with.
        session = new (await import('node:inspector/promises')).Session()
        session.connect()
        await session.post('Profiler.enable')
        await session.post('Profiler.start')
        return 0
      case 'profile-stop': {
        if (!session) throw new Error('no profile running')
        const { profile } = await session.post('Profiler.stop')
        session.disconnect()
        session = undefined
        await writeFile(msg.file, JSON.stringify(profile))
        return 0
      }
      case 'stop':
        stop()
        return 0
    }
  }
  process.on('message', (msg: ProbeRequest) => {
    answer(msg).then(
      (value) => process.send?.({ id: msg.id, value } satisfies ProbeReply),
      (err: unknown) => process.send?.({ id: msg.id, error: err instanceof Error ? err.message : String(err) } satisfies ProbeReply),
    )
  })
  process.on('disconnect', stop)
}
