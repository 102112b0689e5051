/** The `http` section as the HTTP server needs it: where to listen, and the TLS pair read from disk. */
import { readFile } from 'node:fs/promises'
import { createSecureContext } from 'node:tls'
import { HerdError } from '../errors/index.ts'
import type { Config } from './types.ts'

/** `http.tls`'s PEM files, read once at start; a file that cannot be read stops the start, naming it. */
export async function readTls(config: Config): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  const tls = config.http.tls
  if (tls === null) return undefined
  const read = (key: 'cert_file' | 'key_file'): Promise<Buffer> =>
    readFile(tls[key]).catch((err: unknown) => {
      throw new HerdError('config_invalid', `http.tls.${key} ${tls[key]} cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    })
  const [cert, key] = await Promise.all([read('cert_file'), read('key_file')])
  try {
    createSecureContext({ cert, key })
  } catch (err: unknown) {
    throw new HerdError(
      'config_invalid',
      `http.tls: ${tls.cert_file} and ${tls.key_file} are not a usable certificate and key: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    )
  }
  return { cert, key }
}

/** `host:port` (IPv6 in brackets) as listen() takes it. */
export function splitHostPort(listen: string): [string, number] {
  const i = listen.lastIndexOf(':')
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))]
}
