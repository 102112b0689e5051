/** Shared fixtures for the config tests: temp folders, a capturing logger, polling. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'

export interface TempDir {
  readonly dir: string
  /** Writes `text` to `name` inside the folder and returns the absolute path. */
  write(name: string, text: string): Promise<string>
  remove(): Promise<void>
}

export async function tempDir(): Promise<TempDir> {
  const dir = await mkdtemp(join(tmpdir(), 'herd-config-'))
  return {
    dir,
    async write(name, text) {
      const path = join(dir, name)
      await writeFile(path, text)
      return path
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}

export interface LogLine {
  level: number
  msg: string
  [key: string]: unknown
}

/** A real pino logger whose lines are collected in memory. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as LogLine)
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, stream), lines }
}

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Runs `fn` and returns the error it throws (failing the test when it does not throw). */
export async function errorOf(fn: () => Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await fn()
  } catch (err: unknown) {
    if (err instanceof Error) return err
    throw new Error(`threw a non-Error: ${String(err)}`, { cause: err })
  }
  throw new Error('expected an error, but nothing was thrown')
}
