import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { KeyStore } from '../../src/tenants/store.ts'
import { Keyring } from '../../src/tenants/keyring.ts'
import { record } from './helpers.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'herd-keys-'))
  dirs.push(d)
  return d
}

describe('the key store', () => {
  it('keeps every field of a record across a reopen', async () => {
    const path = join(await dir(), 'keys.db')
    const r = record({
      models: ['qwen*', 'coder'],
      rpm: 60,
      tpm: 1000,
      tokens_per_day: 5,
      budget: { amount: 10, currency: 'usd', period: 'month', action: 'block' },
      no_egress: true,
      expires_at: 1_800_000_000_000,
    })
    const a = new KeyStore(path)
    a.put(r)
    a.close()
    const b = new KeyStore(path)
    expect(b.all()).toEqual([r])
    b.close()
  })

  it('replaces a record by id and holds the secret only as a hash', async () => {
    const path = join(await dir(), 'keys.db')
    const store = new KeyStore(path)
    const ring = new Keyring(store)
    const { record: made, secret } = ring.create({ name: 'alice', rpm: 60 }, 'node-a', 1000)
    ring.update(made.id, { rpm: 120 }, 'node-a', 2000)
    const rows = store.all()
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ id: made.id, rpm: 120, version: 2, hash: secret.hash() })
    expect(JSON.stringify(rows)).not.toContain(secret.reveal())
    expect(JSON.stringify({ secret })).toBe('{"secret":"[redacted]"}')
    expect(`${secret}`).toBe('[redacted]')
    expect(secret.reveal()).toMatch(/^herd-[A-Za-z0-9_-]{43}$/)
    store.close()
  })

  it('uses WAL, so readers and the writer do not block each other', async () => {
    const path = join(await dir(), 'keys.db')
    const store = new KeyStore(path)
    const { DatabaseSync } = await import('node:sqlite')
    const peek = new DatabaseSync(path)
    expect(peek.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' })
    peek.close()
    store.close()
  })

  it('persists day and month counters and drops old windows', async () => {
    const store = new KeyStore(':memory:')
    store.saveUsage(
      [
        { key_id: 'key_1', period: 'day', start: 100, requests: 1, tokens: 10, cost_micros: 0 },
        { key_id: 'key_1', period: 'month', start: 50, requests: 2, tokens: 20, cost_micros: 5 },
      ],
      0,
    )
    store.saveUsage([{ key_id: 'key_1', period: 'day', start: 100, requests: 3, tokens: 30, cost_micros: 0 }], 60)
    expect(store.usage()).toEqual([{ key_id: 'key_1', period: 'day', start: 100, requests: 3, tokens: 30, cost_micros: 0 }])
    store.close()
  })

  it('skips a row that no longer parses instead of failing the start', async () => {
    const path = join(await dir(), 'keys.db')
    const store = new KeyStore(path)
    store.put(record())
    const { DatabaseSync } = await import('node:sqlite')
    const raw = new DatabaseSync(path)
    raw.exec("INSERT INTO keys VALUES ('key_bad', 'x', 'nothex', '[', NULL, NULL, NULL, NULL, NULL, 0, NULL, 1, 0, 0, 0, 'n')")
    raw.close()
    const bad: string[] = []
    expect(store.all((id) => bad.push(id))).toHaveLength(1)
    expect(bad).toEqual(['key_bad'])
    store.close()
  })
})
