import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Keyring } from '../../src/tenants/keyring.ts'
import { compareVersions, supersedes } from '../../src/tenants/merge.ts'
import type { KeyRecord } from '../../src/tenants/record.ts'
import { KeyStore } from '../../src/tenants/store.ts'
import { record } from './helpers.ts'

const ring = (): Keyring => new Keyring(new KeyStore(':memory:'))

describe('merging versions of a key', () => {
  it('keeps the higher version', () => {
    const base = record()
    expect(supersedes({ ...base, version: 3 }, { ...base, version: 2 })).toBe(true)
    expect(supersedes({ ...base, version: 2 }, { ...base, version: 3 })).toBe(false)
    expect(supersedes(base, undefined)).toBe(true)
  })

  it('breaks a tie by the larger node id, the same way on every node', () => {
    const base = record({ version: 4 })
    const a = { ...base, updated_by: 'node-a', rpm: 1 }
    const b = { ...base, updated_by: 'node-b', rpm: 2 }
    expect(supersedes(b, a)).toBe(true)
    expect(supersedes(a, b)).toBe(false)
    expect(compareVersions(a, a)).toBe(0)
  })

  it('lets a revocation win over any version, even a higher one', () => {
    const base = record()
    const revoked = { ...base, version: 2, revoked: true }
    const later = { ...base, version: 9, rpm: 5 }
    expect(supersedes(revoked, later)).toBe(true)
    expect(supersedes(later, revoked)).toBe(false)
  })

  it('converges to one record whatever order the versions arrive in', () => {
    const base = record()
    const version = fc.record({
      version: fc.integer({ min: 1, max: 5 }),
      revoked: fc.boolean(),
      updated_by: fc.constantFrom('a', 'b', 'c'),
      rpm: fc.integer({ min: 1, max: 9 }),
    })
    fc.assert(
      fc.property(fc.array(version, { minLength: 1, maxLength: 8 }), fc.integer(), (versions, seed) => {
        const records: KeyRecord[] = versions.map((v) => ({ ...base, ...v }))
        const shuffled = [...records].sort((x, y) => (((x.rpm ?? 0) * 31 + seed) % 7) - (((y.rpm ?? 0) * 31 + seed) % 7))
        const one = ring()
        const two = ring()
        for (const r of records) one.apply(r)
        for (const r of shuffled) two.apply(r)
        const a = one.get(base.id)
        const b = two.get(base.id)
        expect(compareVersions(a!, b!)).toBe(0)
        expect(a!.revoked).toBe(records.some((r) => r.revoked))
      }),
    )
  })
})

describe('the keyring', () => {
  it('bumps the version on every local change and finds a key by the hash of its secret', () => {
    const keys = ring()
    const { record: made, secret } = keys.create({ name: 'alice', models: ['qwen*'] }, 'node-a', 1)
    expect(made.version).toBe(1)
    expect(keys.lookup(secret.hash())?.id).toBe(made.id)
    expect(keys.update(made.id, { rpm: 10 }, 'node-b', 2)).toMatchObject({ version: 2, rpm: 10, updated_by: 'node-b', models: ['qwen*'] })
    expect(keys.revoke(made.id, 'node-a', 3)).toMatchObject({ version: 3, revoked: true })
  })

  it('refuses to change a revoked key: revocation is final', () => {
    const keys = ring()
    const { record: made } = keys.create({ name: 'bob' }, 'n', 1)
    keys.revoke(made.id, 'n', 2)
    expect(() => keys.update(made.id, { rpm: 1 }, 'n', 3)).toThrow(/revoked/)
    expect(keys.revoke(made.id, 'n', 4).version).toBe(2)
  })

  it('ignores an older record from a peer and applies a newer one', () => {
    const keys = ring()
    const r = record({ version: 2 })
    expect(keys.apply(r)).toBe('applied')
    expect(keys.apply({ ...r, version: 1, rpm: 7 })).toBe('older')
    expect(keys.apply({ ...r, version: 3, rpm: 7 })).toBe('applied')
    expect(keys.get(r.id)?.rpm).toBe(7)
  })

  it('refuses a record that claims the secret of another key', () => {
    const keys = ring()
    const r = record()
    keys.apply(r)
    expect(keys.apply(record({ hash: r.hash }))).toBe('refused')
    expect(keys.lookup(r.hash)?.id).toBe(r.id)
  })

  it('gives two nodes holding the same versions the same summary', () => {
    const a = ring()
    const b = ring()
    const r1 = record()
    const r2 = record()
    a.apply(r1)
    a.apply(r2)
    b.apply(r2)
    expect(a.summary()).not.toBe(b.summary())
    b.apply(r1)
    expect(a.summary()).toBe(b.summary())
    expect(a.digest()).toEqual(b.digest())
  })
})
