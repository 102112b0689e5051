/** A pino logger that keeps what it logged, for asserting on warnings. */
import { pino, type Logger } from 'pino'

export interface CapturedLog {
  level: number
  msg: string
}

export function captureLogger(): { logger: Logger; lines: CapturedLog[]; warnings: () => string[] } {
  const lines: CapturedLog[] = []
  const logger = pino(
    { level: 'debug' },
    {
      write: (s: string) => {
        lines.push(JSON.parse(s) as CapturedLog)
      },
    },
  )
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 40).map((l) => l.msg) }
}
