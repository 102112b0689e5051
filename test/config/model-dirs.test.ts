/** `model_dirs`: a list of folders, resolved against the config file (or the cwd for the environment), validated strictly. */
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.ts'
import { errorOf, tempDir, type TempDir } from './helpers.ts'

describe('model_dirs', () => {
  let tmp: TempDir
  let env: NodeJS.ProcessEnv
  beforeEach(async () => {
    tmp = await tempDir()
    env = { HERD_HOME: tmp.dir, HOME: tmp.dir }
  })
  afterEach(() => tmp.remove())

  it('defaults to none', async () => {
    expect((await loadConfig({ env })).model_dirs).toEqual([])
  })

  it('resolves folders against the config file and expands ~', async () => {
    const file = await tmp.write('config.yaml', 'model_dirs: [models, /srv/gguf, ~/hf]\n')
    const config = await loadConfig({ env, file })
    expect(config.model_dirs).toEqual([join(tmp.dir, 'models'), '/srv/gguf', join(tmp.dir, 'hf')])
    expect(Object.isFrozen(config.model_dirs)).toBe(true)
  })

  it('is set by HERD_MODEL_DIRS as a comma-separated or JSON list, relative to the cwd', async () => {
    expect((await loadConfig({ env: { ...env, HERD_MODEL_DIRS: 'a,/b' }, cwd: '/work' })).model_dirs).toEqual(['/work/a', '/b'])
    expect((await loadConfig({ env: { ...env, HERD_MODEL_DIRS: '["/x y"]' } })).model_dirs).toEqual(['/x y'])
  })

  it('refuses a value that is not a list of folders, naming the key', async () => {
    const notList = await tmp.write('a.yaml', 'model_dirs: /models\n')
    expect((await errorOf(() => loadConfig({ env, file: notList }))).message).toMatch(/model_dirs/)
    const empty = await tmp.write('b.yaml', 'model_dirs: [""]\n')
    expect((await errorOf(() => loadConfig({ env, file: empty }))).message).toMatch(/model_dirs\[0\].*expected a folder/)
    const many = await tmp.write('c.yaml', `model_dirs: [${Array.from({ length: 65 }, (_, i) => `d${i}`).join(', ')}]\n`)
    expect((await errorOf(() => loadConfig({ env, file: many }))).message).toMatch(/model_dirs/)
  })
})
