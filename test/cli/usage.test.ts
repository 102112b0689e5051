import { execFile } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const HERD = join(import.meta.dirname, '../../bin/herd')

function herd(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(HERD, args, { timeout: 20_000, env: { ...process.env, HERD_HOME: '/nonexistent-herd-home' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

/** A port nobody listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('the herd CLI', () => {
  it.each(['start', 'init', 'nodes', 'models', 'ps', 'demo', 'keys', 'usage', 'top'])('prints the usage of `herd %s --help` and exits 0', async (command) => {
    const { code, stdout, stderr } = await herd([command, '--help'])
    expect(code).toBe(0)
    expect(stdout).toMatch(new RegExp(`^usage: herd ${command}`))
    expect(stderr).toBe('')
  })

  it('answers a bad flag with the problem and the usage on stderr, exit 2', async () => {
    const { code, stdout, stderr } = await herd(['nodes', '--bogus'])
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toContain("herd nodes: Unknown option '--bogus'")
    expect(stderr).toContain('usage: herd nodes')
    expect(stderr).not.toContain('    at ')
  })

  it('says which URL it tried when no node is running there, and how to point elsewhere', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const { code, stderr } = await herd(['nodes', '--url', url])
    expect(code).toBe(1)
    expect(stderr).toContain(`no herd node answers at ${url}`)
    expect(stderr).toContain('--url')
    expect(stderr).not.toContain('    at ')
  })
})
