import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { findLlamaServer } from '../../src/llama/index.ts'
import { tempDir, writeFakeInstall, writeFakeServer } from './fakes.ts'

let home: string
let bin: string

beforeEach(async () => {
  home = await tempDir()
  bin = join(home, 'bin')
  await mkdir(bin)
})

afterEach(async () => {
  await rm(home, { recursive: true, force: true })
})

describe('findLlamaServer', () => {
  it('uses a configured path and asks it for its version', async () => {
    const server = await writeFakeServer(join(bin, 'my-llama-server'), '4589 (abc1234)')
    expect(await findLlamaServer({ configured: server, home })).toEqual({
      serverPath: server,
      fitParamsPath: null,
      version: '4589 (abc1234)',
      libDir: null,
    })
  })

  it('refuses a configured path that is not an executable file', async () => {
    await expect(findLlamaServer({ configured: join(bin, 'missing'), home })).rejects.toMatchObject({ code: 'config_invalid' })
    await expect(findLlamaServer({ configured: bin, home })).rejects.toMatchObject({ code: 'config_invalid' })
  })

  it('prefers llama-server on PATH in auto mode, with llama-fit-params beside it', async () => {
    await writeFakeInstall(home, 'aaaaaaaaaaaa', '2026-01-01T00:00:00Z')
    const server = await writeFakeServer(join(bin, 'llama-server'))
    const fit = await writeFakeServer(join(bin, 'llama-fit-params'))
    const found = await findLlamaServer({ configured: 'auto', home, pathEnv: `relative/dir:${bin}` })
    expect(found).toMatchObject({ serverPath: server, fitParamsPath: fit })
  })

  it('falls back to the newest herd install when PATH has none', async () => {
    await writeFakeInstall(home, 'aaaaaaaaaaaa', '2026-01-01T00:00:00Z', '1 (old0000)')
    const newest = await writeFakeInstall(home, 'bbbbbbbbbbbb-12345678', '2026-03-01T00:00:00Z', '2 (new0000)')
    await writeFakeInstall(home, 'cccccccccccc', '2026-02-01T00:00:00Z', '3 (mid0000)')
    const found = await findLlamaServer({ configured: 'auto', home, pathEnv: bin })
    expect(found).toEqual({
      serverPath: join(newest, 'llama-server'),
      fitParamsPath: join(newest, 'llama-fit-params'),
      version: '2 (new0000)',
      libDir: null,
    })
  })

  it('skips the cache, source and build folders and installs that do not run', async () => {
    await writeFakeInstall(home, 'src', '2027-01-01T00:00:00Z')
    const broken = await writeFakeInstall(home, 'dddddddddddd', '2026-06-01T00:00:00Z')
    await writeFakeServer(join(broken, 'llama-server'), 'garbage')
    const good = await writeFakeInstall(home, 'aaaaaaaaaaaa', '2026-01-01T00:00:00Z', '1 (good000)')
    const found = await findLlamaServer({ configured: 'auto', home, pathEnv: bin })
    expect(found?.serverPath).toBe(join(good, 'llama-server'))
  })

  it('returns null in auto mode when there is nothing to run', async () => {
    expect(await findLlamaServer({ configured: 'auto', home, pathEnv: bin })).toBeNull()
    expect(await findLlamaServer({ configured: 'auto', home: join(home, 'nope'), pathEnv: '' })).toBeNull()
  })
})
