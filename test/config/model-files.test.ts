/** Missing model files: reported at start and on reload, one warning naming the path; a file that appears is picked up by the periodic check. */
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ModelFiles } from '../../src/config/index.ts'
import type { ProfileSpec } from '../../src/config/types.ts'
import { capturingLogger, profile } from '../api/helpers.ts'

describe('ModelFiles', () => {
  let dir: string
  let files: ModelFiles | undefined
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-model-files-'))
  })
  afterEach(async () => {
    files?.stop()
    files = undefined
    await rm(dir, { recursive: true, force: true })
  })

  function make(profiles: () => ProfileSpec[], intervalMs = 60_000) {
    const { logger, lines } = capturingLogger()
    files = new ModelFiles({ logger, profiles }, { intervalMs })
    return { files, warnings: () => lines.filter((l) => l['level'] === 40), lines }
  }

  it('reports each missing file at start, once, naming its path; present files and -hf profiles are ok', async () => {
    await writeFile(join(dir, 'here.gguf'), 'x')
    const missing = join(dir, 'gone.gguf')
    const list = [
      profile('here:default', { modelPath: join(dir, 'here.gguf') }),
      profile('gone:default', { modelPath: missing }),
      profile('hf:default', { modelPath: undefined }),
    ]
    const { files: f, warnings } = make(() => list)
    await f.start()
    expect(warnings()).toMatchObject([{ model: 'gone:default', path: missing, msg: `model file not found: ${missing}` }])
    expect([f.status('here:default'), f.status('gone:default'), f.status('hf:default')]).toEqual(['ok', 'missing_file', 'ok'])
  })

  it('reports the missing files again on reload, and a new profile whose file is missing', async () => {
    let list = [profile('a:default', { modelPath: join(dir, 'a.gguf') })]
    const { files: f, warnings } = make(() => list)
    await f.start()
    list = [...list, profile('b:default', { modelPath: join(dir, 'b.gguf') })]
    await f.reload()
    expect(warnings().map((w) => w['model'])).toEqual(['a:default', 'a:default', 'b:default'])
    expect(f.missing('b:default')).toBe(true)
  })

  it('picks up a file that appears (a finished download) without a reload, and says so', async () => {
    const path = join(dir, 'late.gguf')
    const { files: f, lines } = make(() => [profile('late:default', { modelPath: path })], 20)
    await f.start()
    expect(f.missing('late:default')).toBe(true)
    const changed = once(f, 'files:changed', { signal: AbortSignal.timeout(5_000) })
    await writeFile(path, 'x')
    await changed
    expect(f.status('late:default')).toBe('ok')
    expect(lines.filter((l) => l['msg'] === 'model file found')).toMatchObject([{ model: 'late:default', path }])
  })

  it('notices a file that goes away, with one warning, not one per check', async () => {
    const path = join(dir, 'soon-gone.gguf')
    await writeFile(path, 'x')
    const { files: f, warnings } = make(() => [profile('g:default', { modelPath: path })], 20)
    await f.start()
    const changed = once(f, 'files:changed', { signal: AbortSignal.timeout(5_000) })
    await rm(path)
    await changed
    // Two more checks pass without another line.
    await f.check({ report: 'changes' })
    await f.check({ report: 'changes' })
    expect(warnings()).toHaveLength(1)
  })

  it('counts a directory at model_path as missing', async () => {
    const { files: f } = make(() => [profile('d:default', { modelPath: dir })])
    await f.start()
    expect(f.missing('d:default')).toBe(true)
  })
})
