import { describe, expect, it } from 'vitest'
import { exposureWarning } from '../../src/api/index.ts'
import { isLoopbackHost } from '../../src/api/exposure.ts'

describe('exposure warning', () => {
  it.each(['0.0.0.0:8080', '[::]:8080', '192.168.1.5:8080', 'gpu-box.lan:8080', '[2001:db8::1]:9000'])(
    'warns, naming the address, when %s has no API keys',
    (listen) => {
      const line = exposureWarning(listen, [])
      expect(line).toContain(listen)
      expect(line).toMatch(/http\.api_keys/)
    },
  )

  it.each(['127.0.0.1:8080', '127.0.0.53:1', 'localhost:8080', '[::1]:8080'])('stays quiet on loopback %s', (listen) => {
    expect(exposureWarning(listen, [])).toBeUndefined()
  })

  it('stays quiet when keys are set, wherever it listens', () => {
    expect(exposureWarning('0.0.0.0:8080', ['k'])).toBeUndefined()
  })

  it('treats only loopback names and addresses as loopback', () => {
    expect(isLoopbackHost('[::ffff:127.0.0.1]')).toBe(true)
    expect(isLoopbackHost('127.evil.example')).toBe(false)
    expect(isLoopbackHost('::')).toBe(false)
  })
})
