import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { HERD } from '../helpers/herd-process.ts'
import { ensureLlamaServer } from '../helpers/llama-server.ts'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('herd start', () => {
  it('says in one line that http.listen is taken, without talk of draining', async () => {
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => blocker.close(() => resolve())))
    const port = (blocker.address() as { port: number }).port
    const home = await mkdtemp(join(tmpdir(), 'herd-start-'))
    cleanups.push(() => rm(home, { recursive: true, force: true }))
    await writeFile(join(home, 'cookbook.yaml'), 'models: []\n')
    await writeFile(
      join(home, 'config.yaml'),
      `http:\n  listen: 127.0.0.1:${port}\nllama:\n  server: ${JSON.stringify(await ensureLlamaServer())}\nlog_format: json\n`,
    )
    const child = spawn(HERD, ['start', '--config', join(home, 'config.yaml')], {
      env: { ...process.env, HERD_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(
      `herd: http.listen 127.0.0.1:${port} is in use: another program listens there (choose another address in the config or with HERD_HTTP__LISTEN)`,
    )
    expect(stdout).not.toContain('draining')
    expect(stdout).not.toContain('"stopped"')
  })
})
