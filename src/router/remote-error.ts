/**
 * A peer's answer, before it goes anywhere: its headers pass the same allow-list as a
 * local llama-server's (without its framing: herd sets that), and a refusal (queue full,
 * model missing, spawn failed, …), which a peer answers with its error envelope and an
 * `x-herd-error` code header, becomes a HerdError the router can retry elsewhere or hand
 * to the client unchanged. The error body is read only up to MAX_REMOTE_ERROR_BYTES and
 * for at most REMOTE_ERROR_TIMEOUT_MS: a peer's endless or huge error body costs neither
 * memory nor the client's wait.
 */
import type { Readable } from 'node:stream'
import { ERROR_CODES, HerdError, type ErrorCode } from '../errors/index.ts'
import { relayableHeaders } from './headers.ts'
import type { UpstreamResponse } from './types.ts'

export const MAX_REMOTE_ERROR_BYTES = 64 * 1024
export const REMOTE_ERROR_TIMEOUT_MS = 2_000
/** A peer's error message is cut to this many characters. */
const MAX_MESSAGE_LENGTH = 1024

export async function rejectRemoteError(res: UpstreamResponse, peerName: string, options: { timeoutMs?: number } = {}): Promise<UpstreamResponse> {
  const headers = relayableHeaders(res.headers)
  const code = headers['x-herd-error']
  if (code === undefined) return { ...res, headers }
  const body = await readCapped(res.body, MAX_REMOTE_ERROR_BYTES, options.timeoutMs ?? REMOTE_ERROR_TIMEOUT_MS)
  let message = `peer ${peerName} answered ${res.status}`
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } }
    if (typeof parsed.error?.message === 'string') message = `${parsed.error.message.slice(0, MAX_MESSAGE_LENGTH)} (on ${peerName})`
  } catch {
    // Not an envelope (or cut short): keep the generic message.
  }
  const known = Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'upstream_error'
  const retryAfter = Number(headers['retry-after'])
  return Promise.reject(new HerdError(known, message, Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterSeconds: Math.min(retryAfter, 3600) } : {}))
}

/** Up to `maxBytes` of `body` as text, whatever arrived by `timeoutMs`; the body is destroyed after (that resets a peer's stream). */
export function readCapped(body: Readable, maxBytes: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const finish = (): void => {
      clearTimeout(timer)
      body.off('data', onData)
      body.off('end', finish)
      body.off('error', finish)
      body.off('close', finish)
      if (!body.destroyed) body.destroy()
      resolve(Buffer.concat(chunks).toString('utf8'))
    }
    const onData = (chunk: Buffer | string): void => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk
      const part = b.subarray(0, maxBytes - size)
      chunks.push(part)
      size += part.byteLength
      if (size >= maxBytes) finish()
    }
    const timer = setTimeout(finish, timeoutMs)
    body.on('data', onData)
    body.once('end', finish)
    body.once('error', finish)
    body.once('close', finish)
  })
}
