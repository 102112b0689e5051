import { describe, expect, it } from 'vitest'
import { MESH_SECRET_MISSING, generateSwarmKey, parseSwarmKey } from '../../src/mesh/secret.ts'

describe('cluster secret', () => {
  it("generates pnet's three-line swarm key with 64 hex digits", () => {
    const key = generateSwarmKey()
    expect(key).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    expect(generateSwarmKey()).not.toBe(key)
  })

  it('parses a generated key back to the same bytes', () => {
    const key = generateSwarmKey()
    expect(Buffer.from(parseSwarmKey(key)).toString('utf8')).toBe(key)
    expect(Buffer.from(parseSwarmKey(Buffer.from(`${key}\n`))).toString('utf8')).toBe(key)
  })

  it('accepts the bare 64 hex digits that `herd init --join` takes', () => {
    const key = generateSwarmKey()
    const hex = key.split('\n')[2]!
    expect(Buffer.from(parseSwarmKey(hex.toUpperCase())).toString('utf8')).toBe(key)
  })

  it('rejects a wrong header, a wrong encoding and a short key with a clear message', () => {
    const hex = 'ab'.repeat(32)
    expect(() => parseSwarmKey(`/key/swarm/psk/2.0.0/\n/base16/\n${hex}`)).toThrow(/expected three lines/)
    expect(() => parseSwarmKey(`/key/swarm/psk/1.0.0/\n/base64/\n${hex}`)).toThrow(/base16/)
    expect(() => parseSwarmKey(`/key/swarm/psk/1.0.0/\n/base16/\n${hex.slice(2)}`)).toThrow(/64 hex digits/)
    expect(() => parseSwarmKey('')).toThrow(/cluster secret/)
  })

  it('tells the user to run herd init when the secret is missing', () => {
    expect(MESH_SECRET_MISSING).toMatch(/herd init/)
    expect(MESH_SECRET_MISSING).toMatch(/herd init --join <secret>/)
  })
})
