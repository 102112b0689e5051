/**
 * Whose entries a request may see. By default each API key has its own: one key's answers
 * never reach another, so the cache leaks nothing that authentication keeps apart. The
 * scope is the SHA-256 hex of the key the client presented, which works the same for
 * `http.api_keys` and tenant keys (whose nodes index keys by that same digest), and needs
 * no lookup: only a client that holds a key can produce its scope.
 */
import { createHash } from 'node:crypto'

/** Requests that present no key (a node without authentication) share this scope. */
export const ANONYMOUS_SCOPE = 'anonymous'

/** With `cache.shared: true` every key uses this scope. */
export const SHARED_SCOPE = 'shared'

/** The request headers a key can come in: `Authorization: Bearer <key>` and `x-api-key: <key>`. */
export interface KeyHeaders {
  authorization?: string | undefined
  'x-api-key'?: string | string[] | undefined
}

/**
 * The presented key's scope: the digest of the one key, or of all of them when a client
 * sends both headers (it holds every one it sends, so it can reach no scope but its own).
 */
export function keyScope(headers: KeyHeaders): string {
  const keys: string[] = []
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')?.[1]
  if (bearer !== undefined) keys.push(bearer)
  const header = headers['x-api-key']
  if (typeof header === 'string' && header !== '' && header !== bearer) keys.push(header)
  if (keys.length === 0) return ANONYMOUS_SCOPE
  return createHash('sha256').update(keys.join('\n')).digest('hex')
}
