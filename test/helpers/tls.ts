/** A self-signed certificate for 127.0.0.1 and localhost, made in the test (no openssl needed). */
import { generate } from 'selfsigned'

export async function selfSignedPair(): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: 'commonName', value: 'herd-test' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  })
  return { cert: pems.cert, key: pems.private }
}
