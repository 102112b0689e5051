/** Request and answer bodies on their way to and from a backend. */
import type { Readable } from 'node:stream'
import { HerdError } from '../errors/index.ts'
import type { Conversion, ConversionSettings } from './protocol.ts'

/** The client's JSON body (the API has checked it is an object; a forwarded one is checked again here). */
export function parseClientBody(raw: Buffer): Record<string, unknown> {
  let body: unknown
  try {
    body = JSON.parse(raw.toString('utf8'))
  } catch (err: unknown) {
    throw new HerdError('invalid_json', 'request body is not valid JSON', { cause: err })
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HerdError('invalid_request', 'request body must be a JSON object')
  return body as Record<string, unknown>
}

/**
 * What goes upstream: the client's body (converted into the backend's protocol when it
 * speaks the other one) with `model` set to the backend's own name (herd's id is
 * `backend/model`). The name is set before converting too, so a request that named no
 * model (the default model) converts like one that did.
 */
export function upstreamBody(client: Record<string, unknown>, model: string, conversion: Conversion | undefined, settings: ConversionSettings): Buffer {
  const named = { ...client, model }
  const out = conversion === undefined ? named : { ...conversion.request(named, settings), model }
  return Buffer.from(JSON.stringify(out))
}

/** Up to `max` bytes of a body as text; the rest is dropped (and the body destroyed). */
export async function readPrefix(body: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const b = chunk as Buffer
    chunks.push(b.subarray(0, max - size))
    size += b.byteLength
    if (size >= max) {
      body.destroy()
      break
    }
  }
  return Buffer.concat(chunks).toString('utf8')
}
