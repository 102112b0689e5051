import { once } from 'node:events'
import { rename } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CookbookWatcher, type Cookbook } from '../../src/config/index.ts'
import { captureLogger, errorOf, tempDir, waitFor, type TempDir } from './helpers.ts'

const book = (ctx: number, model = 'm'): string =>
  `models:\n  - name: ${model}\n    profiles:\n      - { id: default, model_path: m.gguf, llama_server_args: -c ${ctx} }\n`

const argsOf = (cookbook: Cookbook, id = 'm:default'): readonly string[] | undefined => cookbook.profiles.get(id)?.args

/** Resolves with the next `event` from the watcher, or rejects after a deadline. */
const next = <E extends 'cookbook:changed' | 'cookbook:invalid'>(w: CookbookWatcher, event: E) => once(w, event, { signal: AbortSignal.timeout(5000) })

describe('CookbookWatcher', () => {
  let tmp: TempDir
  let watcher: CookbookWatcher | undefined
  beforeEach(async () => {
    tmp = await tempDir()
  })
  afterEach(async () => {
    await watcher?.stop()
    watcher = undefined
    await tmp.remove()
  })

  async function started(path: string): Promise<{ w: CookbookWatcher; lines: ReturnType<typeof captureLogger>['lines'] }> {
    const { logger, lines } = captureLogger()
    watcher = new CookbookWatcher({ path, logger, debounceMs: 20 })
    await watcher.start()
    return { w: watcher, lines }
  }

  it('loads the cookbook on start when none is given', async () => {
    const file = await tmp.write('c.yaml', book(512))
    const { w } = await started(file)
    expect(argsOf(w.current)).toEqual(['-c', '512'])
  })

  it('refuses to start on an invalid cookbook and leaves nothing running', async () => {
    const file = await tmp.write('c.yaml', 'models: 3\n')
    const { logger } = captureLogger()
    const w = new CookbookWatcher({ path: file, logger })
    const err = await errorOf(() => w.start())
    expect(err.code).toBe('config_invalid')
    await w.stop()
  })

  it('emits cookbook:changed with the new cookbook after a valid edit', async () => {
    const file = await tmp.write('c.yaml', book(512))
    const { w } = await started(file)
    const changed = next(w, 'cookbook:changed')
    await tmp.write('c.yaml', book(1024))
    const [cookbook] = (await changed) as [Cookbook]
    expect(argsOf(cookbook)).toEqual(['-c', '1024'])
    expect(w.current).toBe(cookbook)
  })

  it('keeps the previous cookbook and logs the problem after an invalid edit', async () => {
    const file = await tmp.write('c.yaml', book(512))
    const { w, lines } = await started(file)
    const before = w.current
    const invalid = next(w, 'cookbook:invalid')
    await tmp.write('c.yaml', book(512).replace('model_path', 'modle_path'))
    const [error] = (await invalid) as [Error & { code: string }]
    expect(error.code).toBe('config_invalid')
    expect(error.message).toContain('models[m].profiles[default].modle_path: unknown key')
    expect(w.current).toBe(before)
    await waitFor(() => lines.some((l) => l.level === 50 && l.msg.includes('modle_path: unknown key')), 3000, 'error log')

    const changed = next(w, 'cookbook:changed')
    await tmp.write('c.yaml', book(2048))
    const [fixed] = (await changed) as [Cookbook]
    expect(argsOf(fixed)).toEqual(['-c', '2048'])
  })

  it('keeps watching a file that an editor replaces by rename', async () => {
    const file = await tmp.write('c.yaml', book(512))
    const { w } = await started(file)
    for (const ctx of [1024, 4096]) {
      const changed = next(w, 'cookbook:changed')
      const temp = await tmp.write('.c.yaml.tmp', book(ctx))
      await rename(temp, file)
      const [cookbook] = (await changed) as [Cookbook]
      expect(argsOf(cookbook)).toEqual(['-c', String(ctx)])
    }
  })

  it('picks up a file added to a cookbook folder', async () => {
    await tmp.write('a.yaml', book(512, 'a'))
    const { w } = await started(tmp.dir)
    const changed = next(w, 'cookbook:changed')
    await tmp.write('b.yaml', book(512, 'b'))
    const [cookbook] = (await changed) as [Cookbook]
    expect([...cookbook.profiles.keys()]).toEqual(['a:default', 'b:default'])
    expect(cookbook.sources).toEqual([join(tmp.dir, 'a.yaml'), join(tmp.dir, 'b.yaml')])
  })

  it('emits nothing when a reload finds the same content', async () => {
    const file = await tmp.write('c.yaml', book(512))
    const { w } = await started(file)
    let events = 0
    w.on('cookbook:changed', () => events++)
    await w.reload()
    expect(events).toBe(0)
  })

  it('can be started and stopped twice, and emits nothing once stopped', async () => {
    const file = await tmp.write('c.yaml', book(512))
    const { w } = await started(file)
    await w.start()
    await w.stop()
    await w.stop()
    let events = 0
    w.on('cookbook:changed', () => events++)
    await tmp.write('c.yaml', book(1024))
    await w.reload()
    expect(events).toBe(0)
  })
})
