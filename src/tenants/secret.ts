/**
 * A tenant key's secret: `herd-` and 32 random bytes (256 bits) in base64url. Nodes keep
 * only its SHA-256: with that much randomness a plain digest cannot be searched back to
 * the secret, needs no per-node salt, and so lets every node check a replicated key.
 * The secret is a value of its own type, so a logger, JSON.stringify or an error message
 * prints `[redacted]`; only `reveal()` gives the text (once, to the operator who made it).
 */
import { hash, randomBytes } from 'node:crypto'
import { Secret } from '../config/index.ts'

export const KEY_SECRET_PREFIX = 'herd-'
/** Random bytes in a secret (the issue asks for at least 128 bits). */
export const KEY_SECRET_BYTES = 32

/** A Secret (prints `[redacted]` everywhere) that can make a fresh key and name its digest. */
export class KeySecret extends Secret {
  /** A fresh secret. */
  static generate(): KeySecret {
    return new KeySecret(KEY_SECRET_PREFIX + randomBytes(KEY_SECRET_BYTES).toString('base64url'))
  }

  /** What nodes store and replicate instead of the secret. */
  hash(): string {
    return hashSecret(this.reveal())
  }
}

/** SHA-256 hex of a presented key: the index every node looks tenant keys up by. */
export function hashSecret(presented: string): string {
  return hash('sha256', presented, 'hex')
}
