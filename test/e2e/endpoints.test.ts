/**
 * Real clients from npm through one herd node against the real llama-server: the
 * Responses API, the Anthropic Messages API, the AI SDK, /infill, the tokenizer and
 * /props (the suite is fixtures/client-suite.ts), with API keys set.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { clientSuite, suiteCookbook } from './fixtures/client-suite.ts'

const KEY = 'sk-herd-e2e-endpoints'
let dir: string
let herd: HerdProcess | undefined

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-e2e-endpoints-'))
  herd = await startHerd({ cookbook: await suiteCookbook(dir), config: { node: { name: 'solo' }, http: { api_keys: [KEY] } } })
})

afterAll(async () => {
  await herd?.dispose()
  await rm(dir, { recursive: true, force: true })
})

clientSuite(() => {
  if (!herd) throw new Error('herd did not start')
  return { url: herd.url, key: KEY, servedBy: 'solo' }
})
