/**
 * The node's libp2p identity: an Ed25519 key kept at `<home>/peer-key`, so a node keeps its
 * peer id across restarts (allowlists and peers' tables key on it).
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import { HerdError } from '../errors/index.ts'

export const PEER_KEY_FILE = 'peer-key'

/** Reads `<home>/peer-key`, creating it (mode 600) on first use. */
export async function loadOrCreatePeerKey(home: string, options: { logger?: Logger; signal?: AbortSignal } = {}): Promise<PrivateKey> {
  const file = join(home, PEER_KEY_FILE)
  options.signal?.throwIfAborted()
  try {
    const bytes = await readFile(file, { signal: options.signal })
    const mode = (await stat(file)).mode & 0o777
    if ((mode & 0o077) !== 0) {
      // The key is the node's identity; tighten it rather than refuse to start.
      options.logger?.warn({ file, mode: mode.toString(8) }, 'peer key was readable by others; setting mode 600')
      await chmod(file, 0o600)
    }
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err: unknown) {
      throw new HerdError('config_invalid', `${file} is not a libp2p private key; move it away to create a new identity`, { cause: err })
    }
  } catch (err: unknown) {
    if (!isNotFound(err)) throw err
  }
  const key = await generateKeyPair('Ed25519')
  await mkdir(home, { recursive: true, mode: 0o700 })
  // Write then rename so a crash never leaves a half-written identity behind.
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600, signal: options.signal })
  await rename(tmp, file)
  options.logger?.info({ file }, 'created a new peer identity')
  return key
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT'
}
