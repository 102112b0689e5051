/**
 * A node listening beyond loopback with no API keys serves every model and the admin API
 * to anyone who can reach it. That may be intended (a trusted LAN), so it is a warning,
 * not a refusal; but it is said once, loudly, at start.
 */
import { isIP } from 'node:net'

/** Whether `host` (from `http.listen`) is reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return h === '::1' || h.startsWith('::ffff:127.')
  return false
}

/** The warning line for `http.listen` and `http.api_keys`, or undefined when there is nothing to warn about. */
export function exposureWarning(listen: string, apiKeys: readonly string[]): string | undefined {
  if (apiKeys.length > 0) return undefined
  const host = listen.slice(0, listen.lastIndexOf(':'))
  if (isLoopbackHost(host)) return undefined
  return `UNPROTECTED: http.listen is ${listen}, reachable from other machines, and http.api_keys is empty: anyone who can reach ${listen} can use every model and the /admin API. Set http.api_keys, or listen on 127.0.0.1.`
}
