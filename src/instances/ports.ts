/** Pick a free TCP port the way the kernel would: bind :0, read it, close. */
import { createServer } from 'node:net'

export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, host, () => {
      const addr = server.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read a free port'))))
    })
  })
}

/**
 * Whether a server's log says it lost the race for its port (someone bound it between our
 * probe and its listen). llama-server prints "couldn't bind HTTP server socket".
 */
export function saysAddressInUse(lines: readonly string[]): boolean {
  return lines.some((l) => /address already in use|EADDRINUSE|couldn't bind/i.test(l))
}
