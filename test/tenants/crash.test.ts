/**
 * Crash safety: a process writing keys as fast as it can is SIGKILLed at an arbitrary
 * moment, several times over the same file; every write it reported as committed is there
 * when the store is opened again.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { KeyStore } from '../../src/tenants/store.ts'
import { NODE } from '../helpers/herd-process.ts'

const WRITER = join(import.meta.dirname, 'fixtures/key-writer.ts')
let dir: string | undefined
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** Runs the writer until it has reported `commits` writes (or 10 s), then SIGKILLs it; returns what it reported. */
async function writeThenKill(path: string, commits: number): Promise<Map<string, number>> {
  const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', WRITER, path], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const seen = new Map<string, number>()
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  let lines = 0
  for await (const line of createInterface({ input: child.stdout })) {
    const [id = '', version = '0'] = line.split(' ')
    seen.set(id, Math.max(seen.get(id) ?? 0, Number(version)))
    // Kill while it is writing, not between runs: it never stops on its own.
    if (++lines === commits) child.kill('SIGKILL')
  }
  clearTimeout(timer)
  expect(await exited, stderr).toBe('SIGKILL')
  return seen
}

describe('the key store under SIGKILL', () => {
  it('loses no committed write', { timeout: 60_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-crash-'))
    const path = join(dir, 'keys.db')
    const committed = new Map<string, number>()
    for (const commits of [150, 233, 377]) {
      for (const [id, v] of await writeThenKill(path, commits)) committed.set(id, Math.max(committed.get(id) ?? 0, v))
      const store = new KeyStore(path)
      const held = new Map(store.all().map((r) => [r.id, r.version]))
      store.close()
      for (const [id, version] of committed) expect(held.get(id), id).toBeGreaterThanOrEqual(version)
    }
    expect(committed.size).toBeGreaterThan(400)
  })
})
