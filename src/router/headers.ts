/**
 * Which upstream response headers herd passes on to its client, whether a local
 * llama-server or a peer answered: an allow-list, so an upstream cannot set cookies,
 * redirects, CORS or encodings on herd's answers. Names must be HTTP tokens and values
 * free of CR, LF and other control bytes (fastify would otherwise fail the whole answer
 * with its own 500); what fails is dropped. Framing (`content-length`,
 * `transfer-encoding`, `connection`, …) is herd's own to set: a peer's never passes, and a
 * local llama-server's `content-length` only with `trustLength` and only when it is a
 * plain number on an answer that is not chunked.
 */

/** Headers relayed as they are. `x-…` names are relayed too, except herd's own. */
const ALLOWED = new Set(['content-type', 'content-language', 'cache-control', 'retry-after', 'x-herd-error'])
/** Set by herd on every answer; an upstream's copy would overwrite them. */
const HERD_OWN = new Set(['x-herd-node', 'x-request-id'])
export const MAX_RELAYED_HEADERS = 64
export const MAX_RELAYED_HEADER_BYTES = 8 * 1024

/** RFC 9110 `token`. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Visible ASCII, space, tab and obs-text only: no CR, LF, NUL or other control bytes. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

export interface RelayOptions {
  /** Keep a numeric `content-length` from an upstream whose framing herd trusts (its own llama-server). */
  trustLength?: boolean
}

export function relayableHeaders(raw: Record<string, string | string[] | undefined>, options: RelayOptions = {}): Record<string, string> {
  const out: Record<string, string> = {}
  let count = 0
  // for…in over undici's plain header object: no array of [name, value] pairs per answer.
  for (const name in raw) {
    if (!Object.hasOwn(raw, name)) continue
    const value = raw[name]
    if (value === undefined) continue
    const k = name.toLowerCase()
    if (!relayable(k)) continue
    const v = Array.isArray(value) ? value.join(', ') : value
    if (!TOKEN.test(k) || v.length > MAX_RELAYED_HEADER_BYTES || !FIELD_VALUE.test(v)) continue
    if (++count > MAX_RELAYED_HEADERS) break
    out[k] = v.trim()
  }
  // A known length lets the answer go out in one write, not chunked; a chunked upstream stays chunked.
  const length = raw['content-length']
  if (options.trustLength === true && raw['transfer-encoding'] === undefined && typeof length === 'string' && /^\d{1,15}$/.test(length)) {
    out['content-length'] = length
  }
  return out
}

function relayable(name: string): boolean {
  return ALLOWED.has(name) || (name.startsWith('x-') && !HERD_OWN.has(name))
}
