import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { llamaLayout } from '../../src/llama/index.ts'
import { installBuild } from '../../src/llama/install.ts'
import { tempDir, writeFakeServer } from './fakes.ts'

let home: string
let binDir: string
const meta = {
  key: 'de3ff815ea7d',
  sha: 'de3ff815ea7d559ee917f063901b8986f038abc6',
  origin: 'test',
  cmakeArgs: [],
  version: '1 (de3ff81)',
  installedAt: '2026-01-01T00:00:00Z',
}

beforeEach(async () => {
  home = await tempDir()
  binDir = join(home, 'llama', 'build', meta.key, 'bin')
  await mkdir(binDir, { recursive: true })
  await writeFakeServer(join(binDir, 'llama-server'))
  await writeFakeServer(join(binDir, 'llama-fit-params'))
})

afterEach(async () => {
  await rm(home, { recursive: true, force: true })
})

describe('installBuild', () => {
  it('copies both binaries and writes install.json, leaving no scratch folder', async () => {
    const install = await installBuild(llamaLayout(home), binDir, meta)
    expect(install.dir).toBe(join(home, 'llama', meta.key))
    expect((await readdir(install.dir)).sort()).toEqual(['install.json', 'llama-fit-params', 'llama-server'])
    expect(JSON.parse(await readFile(join(install.dir, 'install.json'), 'utf8'))).toEqual({ ...meta, sharedLibs: false })
    expect((await readdir(join(home, 'llama'))).sort()).toEqual(['build', meta.key])
  })

  it('carries shared libraries along and records that LD_LIBRARY_PATH is needed', async () => {
    await writeFile(join(binDir, 'libggml.so.0'), 'elf')
    await writeFile(join(binDir, 'libllama.so'), 'elf')
    const install = await installBuild(llamaLayout(home), binDir, meta)
    expect(install.meta?.sharedLibs).toBe(true)
    expect(await readdir(install.dir)).toEqual(expect.arrayContaining(['libggml.so.0', 'libllama.so']))
  })

  it('replaces an older install of the same key as a whole', async () => {
    const layout = llamaLayout(home)
    await mkdir(layout.install(meta.key), { recursive: true })
    await writeFile(join(layout.install(meta.key), 'stale-file'), 'x')
    const install = await installBuild(layout, binDir, meta)
    expect(await readdir(install.dir)).not.toContain('stale-file')
    expect((await readdir(join(home, 'llama'))).sort()).toEqual(['build', meta.key])
  })

  it('fails without installing anything when a target was not built', async () => {
    await rm(join(binDir, 'llama-fit-params'))
    await expect(installBuild(llamaLayout(home), binDir, meta)).rejects.toThrow(/llama-fit-params/)
    expect(await readdir(join(home, 'llama'))).toEqual(['build'])
  })
})
