import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// patches/@libp2p+yamux+*.patch, applied by `patch-package` (the postinstall script): without
// it every data frame a forward stream receives is answered with a window update of its own.
describe('the @libp2p/yamux patch', () => {
  it('is applied: a window update goes out only once half the receive window is used', async () => {
    // The package's entry point is dist/src/index.js; stream.js sits beside it.
    const entry = fileURLToPath(import.meta.resolve('@libp2p/yamux'))
    const source = await readFile(join(dirname(entry), 'stream.js'), 'utf8')
    expect(source).toContain('this.recvWindow - this.recvWindowCapacity < this.recvWindow / 2')
  })
})
