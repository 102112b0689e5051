import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LearnedMemory } from '../../src/hardware/index.ts'
import { waitFor } from '../helpers/poll.ts'
import { captureLogger } from './logger.ts'

describe('LearnedMemory', () => {
  let home: string
  const stores: LearnedMemory[] = []
  const open = async (saveDebounceMs = 60_000): Promise<LearnedMemory> => {
    const s = new LearnedMemory({ logger: captureLogger().logger }, { home, saveDebounceMs })
    stores.push(s)
    await s.start()
    return s
  }
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'herd-learned-'))
  })
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.stop()
    await rm(home, { recursive: true, force: true })
  })

  it('keeps the peak of every figure across samples', async () => {
    const s = await open()
    expect(s.record('h', { vramMb: 1000, rssMb: 300 })).toBe(true)
    expect(s.record('h', { vramMb: 800, rssMb: 350 })).toBe(true)
    expect(s.record('h', { vramMb: 900, rssMb: 200 })).toBe(false)
    expect(s.get('h')).toMatchObject({ vramMb: 1000, rssMb: 350, samples: 3 })
  })

  it('leaves the VRAM peak unknown when no GPU figure was ever seen', async () => {
    const s = await open()
    s.record('cpu', { vramMb: null, rssMb: 120 })
    expect(s.get('cpu')?.vramMb).toBeNull()
    s.record('cpu', { vramMb: 64, rssMb: 100 })
    s.record('cpu', { vramMb: null, rssMb: 100 })
    expect(s.get('cpu')?.vramMb).toBe(64)
  })

  it('survives a restart', async () => {
    const a = await open()
    a.record('hash-1', { vramMb: 5000, rssMb: 700 }, 'llama:default')
    await a.stop()
    const b = await open()
    expect(b.get('hash-1')).toMatchObject({ vramMb: 5000, rssMb: 700, profileId: 'llama:default' })
  })

  it('writes atomically and leaves other keys of state.json alone', async () => {
    await writeFile(join(home, 'state.json'), JSON.stringify({ version: 1, somethingElse: { keep: true } }))
    const s = await open()
    s.record('h', { vramMb: 1, rssMb: 2 })
    await s.save()
    const doc = JSON.parse(await readFile(join(home, 'state.json'), 'utf8')) as Record<string, unknown>
    expect(doc).toMatchObject({ version: 1, somethingElse: { keep: true }, learnedMemory: { h: { vramMb: 1, rssMb: 2 } } })
    expect((await readdir(home)).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('saves on its own a moment after a peak rises', async () => {
    const s = await open(10)
    s.record('h', { vramMb: 10, rssMb: 20 })
    await waitFor('state.json with the new peak', async () => {
      const text = await readFile(join(home, 'state.json'), 'utf8').catch(() => '')
      return text.includes('"h"')
    })
  })

  it('starts empty when state.json is missing or is not JSON', async () => {
    expect((await open()).all().size).toBe(0)
    await writeFile(join(home, 'state.json'), '{ half a file')
    const log = captureLogger()
    const s = new LearnedMemory({ logger: log.logger }, { home })
    stores.push(s)
    await s.start()
    expect(s.all().size).toBe(0)
    expect(log.warnings()).toEqual(['state file is not JSON: starting with no learned memory'])
  })
})
