/**
 * The cluster secret: a libp2p private-network pre-shared key (pnet's swarm key file
 * format). Only nodes holding the same key can even start a Noise handshake.
 */
import { randomBytes } from 'node:crypto'
import { HerdError } from '../errors/index.ts'

const HEADER = '/key/swarm/psk/1.0.0/'
const ENCODING = '/base16/'
const KEY_BYTES = 32

/** What the daemon says when the mesh is enabled without a secret. */
export const MESH_SECRET_MISSING =
  'mesh.enabled is true but no cluster secret is configured (mesh.secret_file). ' +
  'Run `herd init` to create a new cluster secret, or `herd init --join <secret>` to join an existing cluster.'

/** A new random swarm key, in the exact text form `@libp2p/pnet` reads. */
export function generateSwarmKey(): string {
  return `${HEADER}\n${ENCODING}\n${randomBytes(KEY_BYTES).toString('hex')}`
}

/**
 * Validates a swarm key (file content, or the bare 64 hex digits a user pasted after
 * `--join`) and returns it normalised, as the bytes `preSharedKey({ psk })` expects.
 * Throws HerdError('config_invalid') saying what is wrong.
 */
export function parseSwarmKey(text: string | Uint8Array): Uint8Array {
  const str = (typeof text === 'string' ? text : Buffer.from(text).toString('utf8')).trim()
  let hex: string
  if (/^[0-9a-fA-F]+$/.test(str)) {
    hex = str
  } else {
    const lines = str.split(/\r?\n/).map((l) => l.trim())
    if (lines.length !== 3 || lines[0] !== HEADER) {
      throw new HerdError('config_invalid', `invalid cluster secret: expected three lines starting with '${HEADER}' (a swarm key made by \`herd init\`)`)
    }
    if (lines[1] !== ENCODING) {
      throw new HerdError('config_invalid', `invalid cluster secret: only the '${ENCODING}' encoding is supported, got '${lines[1]}'`)
    }
    hex = lines[2] ?? ''
  }
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length !== KEY_BYTES * 2) {
    throw new HerdError('config_invalid', `invalid cluster secret: the key must be ${KEY_BYTES * 2} hex digits, got ${hex.length} characters`)
  }
  return new TextEncoder().encode(`${HEADER}\n${ENCODING}\n${hex.toLowerCase()}`)
}
