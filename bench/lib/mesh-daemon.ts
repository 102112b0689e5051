/**
 * A whole herd daemon (the Daemon of `--daemon`: dist/daemon.js, the bundle bin/herd runs, or
 * src/daemon.ts; as `herd start` builds it) in a bench child process: reads `--config FILE`,
 * starts, prints its HTTP URL on stdout (one line), then answers the parent's probes (CPU
 * used, CPU profile) until told to stop. Logging is off: the bench measures the request
 * path, not pino writing to a pipe. This file itself is TypeScript, so Node's type stripper
 * is loaded in this process whichever daemon runs; bench:memory measures bin/herd instead.
 *
 *   node bench/lib/mesh-daemon.ts --daemon dist/daemon.js --home /tmp/…/b --config /tmp/…/b/config.yaml
 */
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { serveProbes } from './probe.ts'

const { values } = parseArgs({ options: { config: { type: 'string' }, home: { type: 'string' }, daemon: { type: 'string' } } })
if (values.config === undefined || values.home === undefined) throw new Error('--home DIR and --config FILE are required')
const daemonFile = resolve(values.daemon ?? join(import.meta.dirname, '..', '..', 'src', 'daemon.ts'))
const { Daemon } = (await import(pathToFileURL(daemonFile).href)) as typeof import('../../src/daemon.ts')
const daemon = await Daemon.create({
  configFile: values.config,
  // Its own HERD_HOME (peer key, runtime files), as `HERD_HOME=… herd start` would have.
  env: { ...process.env, HERD_HOME: values.home },
  logger: pino({ level: process.env['HERD_BENCH_LOG'] ?? 'silent' }),
})
await daemon.start()
process.stdout.write(`${daemon.url ?? ''}\n`)
// The llama-server children run under `setpriv --pdeathsig KILL`: they go when this process exits.
serveProbes(() => void daemon.stop({ graceMs: 0 }))
