/** `herd start`: run the daemon until SIGTERM/SIGINT, then drain and exit. */
import { stderr } from 'node:process'
import { Daemon } from '../daemon.ts'
import { parseCommandArgs } from './usage.ts'

export async function startCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('start', args, { config: { type: 'string', short: 'c' } })
  const daemon = await Daemon.create(values.config === undefined ? {} : { configFile: values.config })
  await daemon.start()
  return new Promise<number>((resolve) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // A second signal: the user wants out now. Children die with us (pdeathsig).
        stderr.write(`herd: ${signal} again, exiting now\n`)
        process.exit(130)
      }
      stopping = true
      daemon.logger.info({ signal }, 'shutting down')
      // The stop is bounded (grace + 5 s); should anything still hold the process, it goes anyway.
      const limitMs = daemon.config.http.drain_timeout_ms + 5_000
      setTimeout(() => {
        stderr.write(`herd: shutdown still running after ${limitMs} ms, exiting now\n`)
        process.exit(1)
      }, limitMs).unref()
      daemon.stop().then(
        () => resolve(0),
        (err: unknown) => {
          daemon.logger.error({ err }, 'shutdown failed')
          resolve(1)
        },
      )
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}
