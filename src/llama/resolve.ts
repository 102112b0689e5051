/**
 * Which llama-server this node runs: the configured path, or (`auto`) one on PATH or in
 * the herd cache; when there is none, build one now (minutes), logging progress. One
 * lookup per daemon: concurrent callers share it.
 */
import type { Logger } from 'pino'
import type { Config } from '../config/index.ts'
import { buildLlama, findLlamaServer, formatBuildEvent, type LlamaServerInfo } from './index.ts'

const lookups = new WeakMap<Config, Promise<LlamaServerInfo>>()

export function resolveLlamaServer(config: Config, logger: Logger): Promise<LlamaServerInfo> {
  let lookup = lookups.get(config)
  if (!lookup) {
    lookup = find(config, logger)
    lookups.set(config, lookup)
    // A failed lookup is not cached: the next request may find a binary that appeared since.
    lookup.catch(() => lookups.delete(config))
  }
  return lookup
}

async function find(config: Config, logger: Logger): Promise<LlamaServerInfo> {
  const found = await findLlamaServer({ configured: config.llama.server, home: config.home })
  if (found) {
    logger.info({ path: found.serverPath, version: found.version }, 'using llama-server')
    return found
  }
  logger.warn('no llama-server found on PATH or in the herd cache: building one from llama.cpp source (this takes 10-30 minutes on a small machine)')
  let lastPercent = -10
  await buildLlama({
    home: config.home,
    cmakeArgs: config.llama.cmake_args,
    onProgress: (event) => {
      if (event.phase === 'log') return logger.debug({ build: true }, event.message)
      // Every step, but percent updates only every 10 % to keep the log readable.
      if (event.phase === 'build') {
        if (event.percent < lastPercent + 10) return
        lastPercent = event.percent
      }
      logger.info({ build: true }, formatBuildEvent(event))
    },
  })
  const built = await findLlamaServer({ configured: 'auto', home: config.home })
  if (!built) throw new Error(`llama-server was built into ${config.home}/llama but cannot be found there`)
  logger.info({ path: built.serverPath, version: built.version }, 'using llama-server')
  return built
}
