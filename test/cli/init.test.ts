import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { text } from 'node:stream/consumers'
import { parse } from 'yaml'
import { afterEach, describe, expect, it } from 'vitest'
import { initCommand } from '../../src/cli/init.ts'
import { loadConfig } from '../../src/config/index.ts'
import { parseSwarmKey } from '../../src/mesh/index.ts'
import { startHerd } from '../helpers/herd-process.ts'

const homes: string[] = []
afterEach(async () => {
  await Promise.all(homes.splice(0).map((h) => rm(h, { recursive: true, force: true })))
})

async function home(): Promise<string> {
  const h = await mkdtemp(join(tmpdir(), 'herd-init-'))
  homes.push(h)
  return h
}

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  const out = new PassThrough()
  const code = await initCommand(args, out, env)
  out.end()
  return { code, out: await text(out) }
}

describe('herd init', () => {
  it('writes a config with the mesh on and a fresh secret only its owner can read, and prints the join line', async () => {
    const h = await home()
    const { code, out } = await run([], { HERD_HOME: h })
    expect(code).toBe(0)
    const config = await loadConfig({ env: { HERD_HOME: h } })
    expect(config.mesh.enabled).toBe(true)
    expect(config.mesh.secret_file).toBe(join(h, 'cluster.key'))
    expect((await stat(join(h, 'cluster.key'))).mode & 0o777).toBe(0o600)
    const secret = await readFile(join(h, 'cluster.key'), 'utf8')
    expect(() => parseSwarmKey(secret)).not.toThrow()
    expect(out).toContain(`herd init --join ${secret.trim().split('\n').at(-1)}`)
  })

  it('joins with the 64 hex digits another node printed, or a file holding the key', async () => {
    const first = await home()
    const { out } = await run([], { HERD_HOME: first })
    const hex = /--join ([0-9a-f]{64})/.exec(out)?.[1]
    expect(hex).toBeDefined()
    const second = await home()
    expect((await run(['--join', hex!], { HERD_HOME: second })).code).toBe(0)
    expect((await readFile(join(second, 'cluster.key'), 'utf8')).trim()).toBe((await readFile(join(first, 'cluster.key'), 'utf8')).trim())
    const third = await home()
    expect((await run(['--join', join(first, 'cluster.key')], { HERD_HOME: third })).code).toBe(0)
    expect(await readFile(join(third, 'cluster.key'), 'utf8')).toBe(await readFile(join(first, 'cluster.key'), 'utf8'))
  })

  it('refuses a malformed secret and an existing config without --force', async () => {
    const h = await home()
    await expect(run(['--join', 'not-a-secret'], { HERD_HOME: h })).rejects.toThrow(/secret|key/i)
    expect((await run([], { HERD_HOME: h })).code).toBe(0)
    const again = await run([], { HERD_HOME: h })
    expect(again.code).toBe(1)
    expect(again.out).toContain('--force')
    expect((await run(['--force'], { HERD_HOME: h })).code).toBe(0)
  })
})

describe('a mesh without a secret', () => {
  it('refuses to start and says how to make one', async () => {
    const h = await home()
    await writeFile(join(h, 'unused'), '')
    const herd = await startHerd({
      home: h,
      cookbook: { models: [] },
      config: { mesh: { enabled: true, mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'] } },
      waitReady: false,
    })
    const code = await herd.waitExit(20_000)
    expect(code).not.toBe(0)
    expect(herd.output()).toContain('herd init')
    expect(parse(await readFile(join(h, 'config.yaml'), 'utf8')).mesh.secret_file).toBeUndefined()
  })
})
