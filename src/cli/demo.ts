/**
 * `herd demo` (what `npm start` runs): make sure the tiny demo model exists, then serve
 * cookbook/demo.yaml on 127.0.0.1:8080. Everything works offline.
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { HERD_ROOT } from '../paths.ts'
import { writeTinyGguf } from '../demo/tiny-gguf.ts'
import { startCommand } from './start.ts'
import { parseCommandArgs } from './usage.ts'

const COOKBOOK_DIR = join(HERD_ROOT, 'cookbook/')

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
