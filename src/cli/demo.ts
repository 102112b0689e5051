/**
 * `herd demo` (what `npm start` runs): make sure the tiny demo model exists, then serve
 * cookbook/demo.yaml on 127.0.0.1:8080. Everything works offline.
 */
import { stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { writeTinyGguf } from '../demo/tiny-gguf.ts'
import { startCommand } from './start.ts'
import { parseCommandArgs } from './usage.ts'

const COOKBOOK_DIR = fileURLToPath(new URL('../../cookbook/', import.meta.url))

export async function demoCommand(args: string[]): Promise<number> {
  parseCommandArgs('demo', args, {})
  const model = `${COOKBOOK_DIR}models/tiny.gguf`
  const exists = await stat(model).then(
    () => true,
    () => false,
  )
  if (!exists) {
    await writeTinyGguf(model)
    process.stderr.write(`herd: wrote the tiny demo model to ${model}\n`)
  }
  return startCommand(['--config', `${COOKBOOK_DIR}demo.config.yaml`])
}
