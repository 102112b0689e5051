/**
 * The inventory component on a real folder: what it finds and how it launches it, bad files
 * warned once and skipped, files appearing and going while it runs, and the cookbook winning.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Cookbook } from '../../src/config/index.ts'
import { ModelInventory, withDiscovered, type NodeBudget } from '../../src/inventory/index.ts'
import { cookbook, profile } from '../api/helpers.ts'
import { captureLogger } from '../hardware/logger.ts'
import { waitFor } from '../helpers/poll.ts'
import { BIG_CPU, tinyParameterCount, writeSplitGguf, writeTinyGguf, writeTruncatedGguf } from './helpers.ts'

let dir: string
let inventory: ModelInventory | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-inventory-'))
})
afterEach(async () => {
  inventory?.stop()
  inventory = undefined
  await rm(dir, { recursive: true, force: true })
})

function make(options: { book?: Cookbook; rescanMs?: number; budget?: NodeBudget } = {}) {
  const { logger, lines, warnings } = captureLogger()
  const book = options.book ?? cookbook([])
  inventory = new ModelInventory(
    { logger, budget: () => options.budget ?? BIG_CPU, cookbook: () => book },
    { dirs: [dir], rescanMs: options.rescanMs ?? 60_000, debounceMs: 20 },
  )
  return { inventory, lines, warnings }
}

const names = (inv: ModelInventory): string[] => inv.discovered().map((m) => m.name)

describe('ModelInventory', () => {
  it('serves each model found as name:default with its first file, a fitting -c and its projector', async () => {
    await writeTinyGguf(join(dir, 'chat/tiny.gguf'), { name: 'Tiny Chat', contextLength: 1024 })
    await writeTinyGguf(join(dir, 'chat/mmproj-tiny.gguf'), { name: 'projector' })
    const parts = await writeSplitGguf(join(dir, 'split'), 'big', 2, { name: 'Big One' })
    const { inventory } = make()
    await inventory.start()
    expect(names(inventory)).toEqual(['big-one', 'tiny-chat'])
    const [big, tiny] = inventory.discovered()
    expect(tiny?.spec.id).toBe('tiny-chat:default')
    expect(tiny?.spec.modelPath).toBe(join(dir, 'chat/tiny.gguf'))
    expect(tiny?.spec.args).toEqual(['-c', '1024', '--mmproj', join(dir, 'chat/mmproj-tiny.gguf')])
    expect(tiny?.facts).toMatchObject({
      file: 'tiny.gguf',
      architecture: 'llama',
      quantization: 'F16',
      contextLength: 1024,
      parts: 1,
      mmproj: 'mmproj-tiny.gguf',
    })
    expect(big?.spec.modelPath).toBe(parts[0])
    expect(big?.facts).toMatchObject({ file: 'big-00001-of-00002.gguf', parts: 2, parameters: tinyParameterCount(), mmproj: null })
    expect(tiny?.estimate.sysmemMb).toBeGreaterThan(0)
    // The description is gossiped: it names the file, never the folder.
    expect(tiny?.spec.description).toBe('found in model_dirs: tiny.gguf')
  })

  it('gossips an odd file name made printable, so peers never refuse the state for it', async () => {
    await writeTinyGguf(join(dir, 'odd\u001b[31mname.gguf'), { name: 'odd' })
    const { inventory } = make()
    await inventory.start()
    expect(inventory.discovered()[0]?.facts.file).toBe('odd?[31mname.gguf')
  })

  it('sizes the context to the budget: the trained one when it fits, less when not, never under the floor', async () => {
    await writeTinyGguf(join(dir, 'long.gguf'), { name: 'long', contextLength: 65536, embeddingLength: 256 })
    const roomy = make()
    await roomy.inventory.start()
    expect(roomy.inventory.discovered()[0]?.context).toBe(65536)
    roomy.inventory.stop()
    // 64 MiB of process overhead leaves little for the KV cache (256 wide, 2 layers: 2 KiB a token in F16).
    const tight = make({ budget: { gpu: false, vramMb: null, sysmemMb: 100 } })
    await tight.inventory.start()
    const ctx = tight.inventory.discovered()[0]?.context ?? 0
    expect(ctx).toBeGreaterThanOrEqual(2048)
    expect(ctx).toBeLessThan(65536)
    expect(ctx % 256).toBe(0)
    tight.inventory.stop()
    const none = make({ budget: { gpu: false, vramMb: null, sysmemMb: 1 } })
    await none.inventory.start()
    expect(none.inventory.discovered()[0]?.context).toBe(2048)
  })

  it('warns once about each bad file and skips it, and reads it again once it changed', async () => {
    await writeTinyGguf(join(dir, 'good.gguf'), { name: 'good' })
    await writeTruncatedGguf(join(dir, 'cut.gguf'))
    // Header whole, tensor data cut: what a download still running looks like.
    await writeTruncatedGguf(join(dir, 'partial.gguf'), 150_000)
    await writeFile(join(dir, 'text.gguf'), 'hello, not a model at all, but long enough to pass the size check')
    const { inventory, warnings } = make()
    await inventory.start()
    await inventory.rescan()
    await inventory.rescan()
    expect(names(inventory)).toEqual(['good'])
    const bad = warnings().filter((w) => w.includes('skipping'))
    expect(bad).toHaveLength(3)
    expect(bad.join('\n')).toContain('cut.gguf')
    expect(bad.join('\n')).toMatch(/partial\.gguf: truncated: 150000 of \d+ bytes/)
    expect(bad.join('\n')).toContain('text.gguf: not a GGUF file')
    // The download finished: the same path now holds a whole model.
    await writeTinyGguf(join(dir, 'cut.gguf'), { name: 'finished' })
    await inventory.rescan()
    expect(names(inventory)).toEqual(['finished', 'good'])
  })

  it('picks up a file that appears and drops one that goes while running', async () => {
    const { inventory } = make()
    await inventory.start()
    expect(names(inventory)).toEqual([])
    let changes = 0
    inventory.on('inventory:changed', () => changes++)
    // Written elsewhere and renamed in, as a download finishes.
    await writeTinyGguf(join(dir, 'incoming.tmp'), { name: 'arrived' })
    await rename(join(dir, 'incoming.tmp'), join(dir, 'sub-arrived.gguf'))
    await waitFor('the new file to be served', () => names(inventory).includes('arrived'), { timeoutMs: 5000 })
    await rm(join(dir, 'sub-arrived.gguf'))
    await waitFor('the removed file to be dropped', () => names(inventory).length === 0, { timeoutMs: 5000 })
    expect(changes).toBe(2)
  })

  it('finds files by the periodic rescan where nothing watches (a folder created after start)', async () => {
    await rm(dir, { recursive: true })
    const { inventory, warnings } = make({ rescanMs: 50 })
    await inventory.start()
    expect(warnings().join()).toMatch(/is not a folder \(yet\)/)
    await writeTinyGguf(join(dir, 'late.gguf'), { name: 'late' })
    await waitFor('the late folder to be scanned', () => names(inventory).includes('late'), { timeoutMs: 5000 })
    expect(warnings().filter((w) => w.includes('not a folder'))).toHaveLength(1)
  })

  it('leaves a name the cookbook defines, and a file the cookbook names, to the cookbook', async () => {
    const taken = (await writeTinyGguf(join(dir, 'taken.gguf'), { name: 'tiny' })).path
    const named = (await writeTinyGguf(join(dir, 'named.gguf'), { name: 'someone' })).path
    await writeTinyGguf(join(dir, 'free.gguf'), { name: 'free' })
    const book = cookbook([profile('tiny:default', { modelPath: '/elsewhere/tiny.gguf' }), profile('mine:default', { modelPath: named })])
    const { inventory, lines } = make({ book })
    await inventory.start()
    expect(names(inventory)).toEqual(['free'])
    expect(lines.some((l) => l.msg.includes(`${taken} is not added as "tiny"`))).toBe(true)
    const merged = withDiscovered(book, inventory.discovered())
    expect(merged.profiles.get('tiny:default')?.modelPath).toBe('/elsewhere/tiny.gguf')
    expect(merged.names.get('free')).toBe('free:default')
    expect([...merged.profiles.keys()].sort()).toEqual(['free:default', 'mine:default', 'tiny:default'])
    // The cookbook's own file has facts too, for the gossiped inventory.
    expect(inventory.item('mine:default')).toMatchObject({ source: 'cookbook', facts: { file: 'named.gguf', architecture: 'llama' } })
    expect(inventory.item('free:default')?.source).toBe('model_dirs')
  })
})
