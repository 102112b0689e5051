import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { PEER_KEY_FILE, loadOrCreatePeerKey } from '../../src/mesh/identity.ts'

describe('peer identity', () => {
  const homes: string[] = []
  const home = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'herd-id-'))
    homes.push(dir)
    return dir
  }
  afterEach(async () => {
    await Promise.all(homes.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  })

  it('creates an Ed25519 key on first use, readable only by its owner', async () => {
    const dir = await home()
    const key = await loadOrCreatePeerKey(join(dir, 'nested'))
    expect(key.type).toBe('Ed25519')
    expect((await stat(join(dir, 'nested', PEER_KEY_FILE))).mode & 0o777).toBe(0o600)
  })

  it('keeps the same peer id across restarts', async () => {
    const dir = await home()
    const first = peerIdFromPrivateKey(await loadOrCreatePeerKey(dir)).toString()
    const second = peerIdFromPrivateKey(await loadOrCreatePeerKey(dir)).toString()
    expect(second).toBe(first)
  })

  it('refuses a key file that is not a libp2p key, naming the file', async () => {
    const dir = await home()
    await writeFile(join(dir, PEER_KEY_FILE), 'garbage', { mode: 0o600 })
    await expect(loadOrCreatePeerKey(dir)).rejects.toThrow(PEER_KEY_FILE)
  })
})
