/**
 * A peer that refuses a forwarded request (queue full, model missing, spawn failed, …)
 * answers with its error envelope and an `x-herd-error` code header. Before the first
 * byte reaches our client that is an attempt that failed, so it becomes a HerdError the
 * router can retry elsewhere, or hand to the client unchanged.
 */
import { text } from 'node:stream/consumers'
import { ERROR_CODES, HerdError, type ErrorCode } from '../errors/index.ts'
import type { UpstreamResponse } from './types.ts'

export async function rejectRemoteError(res: UpstreamResponse, peerName: string): Promise<UpstreamResponse> {
  const code = res.headers['x-herd-error']
  if (code === undefined) return res
  const body = await text(res.body).catch(() => '')
  let message = `peer ${peerName} answered ${res.status}`
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } }
    if (typeof parsed.error?.message === 'string') message = `${parsed.error.message} (on ${peerName})`
  } catch {
    // Not an envelope: keep the generic message.
  }
  const known = Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'upstream_error'
  const retryAfter = Number(res.headers['retry-after'])
  return Promise.reject(new HerdError(known, message, Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {}))
}
