/**
 * node bench/inventory.ts [--files 100,1000,2000] — what model_dirs costs: the first scan
 * (walk + every GGUF header read + names, context sizing, estimates), a rescan with nothing
 * changed (walk + stat; headers cached by size and mtime), and the bytes the inventory adds
 * to every gossiped state. Tiny models (a 267-token vocabulary): a real model's header
 * (a 150k-token vocabulary) takes longer to read once, then is cached like these.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { writeTinyGguf } from '../src/demo/tiny-gguf.ts'
import { inventoryState, ModelInventory, withDiscovered } from '../src/inventory/index.ts'
import type { Cookbook } from '../src/config/index.ts'

const { values } = parseArgs({ options: { files: { type: 'string', default: '100,1000,2000' } } })
const counts = values.files.split(',').map(Number)
const empty: Cookbook = { profiles: new Map(), names: new Map(), defaultModel: undefined, sources: [] }

for (const n of counts) {
  const dir = await mkdtemp(join(tmpdir(), 'herd-bench-inventory-'))
  try {
    // 20 files a folder, two levels deep, each a distinct model.
    for (let i = 0; i < n; i++)
      await writeTinyGguf(join(dir, `g${Math.floor(i / 400)}`, `f${Math.floor(i / 20)}`, `model-${i}.gguf`), { name: `model ${i}`, seed: 1 })
    const inventory = new ModelInventory(
      { logger: pino({ level: 'silent' }), budget: () => ({ gpu: false, vramMb: null, sysmemMb: 64 * 1024 }), cookbook: () => empty },
      { dirs: [dir], rescanMs: 3_600_000 },
    )
    let t = performance.now()
    await inventory.start()
    const cold = performance.now() - t
    const found = inventory.discovered().length
    const warm: number[] = []
    for (let r = 0; r < 5; r++) {
      t = performance.now()
      await inventory.rescan()
      warm.push(performance.now() - t)
    }
    inventory.stop()
    const book = withDiscovered(empty, inventory.discovered())
    const state = inventoryState({ profiles: () => book.profiles.values(), item: (id) => inventory.item(id), learned: () => undefined })
    const bytes = Buffer.byteLength(JSON.stringify(state))
    warm.sort((a, b) => a - b)
    console.log(
      `${n} files: ${found} models; first scan ${cold.toFixed(0)} ms (${((cold / n) * 1000).toFixed(0)} µs a file); ` +
        `rescan, nothing changed: median ${warm[2]?.toFixed(0)} ms; gossip ${bytes} bytes (${(bytes / Math.max(1, found)).toFixed(0)} a model)`,
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
