/**
 * Request bodies stay raw bytes (they are relayed verbatim; handlers parse what they
 * need), decoded first when the client compressed them. Decoding is bounded twice: the
 * compressed bytes by fastify's bodyLimit, the decoded bytes by zlib's maxOutputLength at
 * the same limit, so a zip bomb stops at `http.body_limit_bytes` and gets 413.
 */
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HerdError } from '../errors/index.ts'
import { clip } from './clip.ts'

type Decoder = (body: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions) => Promise<Buffer>

const gunzip: Decoder = promisify(zlib.gunzip)
const inflate: Decoder = promisify(zlib.inflate)
const inflateRaw: Decoder = promisify(zlib.inflateRaw)
const brotli: Decoder = promisify(zlib.brotliDecompress)

/** HTTP `deflate` means zlib-wrapped, but some clients send raw deflate: accept both. */
const deflate: Decoder = (body, options) =>
  inflate(body, options).catch((err: unknown) => {
    if ((err as { code?: unknown }).code === 'Z_DATA_ERROR') return inflateRaw(body, options)
    throw err
  })

const DECODERS: Record<string, Decoder> = { gzip: gunzip, 'x-gzip': gunzip, deflate, br: brotli }

/** More stacked encodings than this is no client's honest request. */
export const MAX_CONTENT_CODINGS = 2

export function installBodyParser(app: FastifyInstance, limitBytes: number): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => {
    const coding = request.headers['content-encoding']
    // Most bodies come as they are: handed on at once, no promise per request.
    if (coding === undefined) return done(null, body)
    decodeBody(body, coding, limitBytes).then(
      (decoded) => done(null, decoded),
      (err: unknown) => done(err as Error),
    )
  })
}

/** The body with its Content-Encoding undone (applied in order, so undone in reverse). */
export async function decodeBody(body: Buffer, contentEncoding: string | undefined, limitBytes: number): Promise<Buffer> {
  if (contentEncoding === undefined) return body
  const codings = contentEncoding
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity')
  const unsupported = codings.find((c) => DECODERS[c] === undefined)
  if (unsupported !== undefined || codings.length > MAX_CONTENT_CODINGS) {
    throw new HerdError(
      'unsupported_media_type',
      `Content-Encoding '${clip(unsupported ?? contentEncoding)}' is not supported: send the body as is, or with gzip, deflate or br`,
    )
  }
  let decoded = body
  for (const coding of codings.reverse()) decoded = await decodeOne(coding, decoded, limitBytes)
  return decoded
}

async function decodeOne(coding: string, body: Buffer, limitBytes: number): Promise<Buffer> {
  const decoder = DECODERS[coding] as Decoder
  try {
    return await decoder(body, { maxOutputLength: limitBytes })
  } catch (err: unknown) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new HerdError('body_too_large', `request body is larger than http.body_limit_bytes once decoded (${coding})`)
    }
    throw new HerdError('invalid_request', `request body is not valid ${coding}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}
