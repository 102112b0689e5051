/**
 * Finding the llama-server to run: the configured path, or (`auto`) one on PATH, else the
 * newest herd install. Whatever is found is asked for its version, which also proves it
 * starts on this machine (a binary missing its shared libraries fails here, not at load).
 */
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path'
import { HerdError } from '../errors/index.ts'
import { isExecutableFile } from './fsutil.ts'
import { listInstalls } from './install.ts'
import { llamaLayout } from './layout.ts'
import { readLlamaVersion } from './version.ts'

export interface LlamaServerInfo {
  serverPath: string
  /** `llama-fit-params` beside it (projected memory without loading), when present. */
  fitParamsPath: string | null
  /** What the binary says after `version:`, e.g. `0.5.0-dev (build 1, commit de3ff81)`. */
  version: string
  /** Folder to put on LD_LIBRARY_PATH when the install carries shared libraries; else null. */
  libDir: string | null
}

export interface FindLlamaServerOptions {
  /** `llama.server` from the config: a path, or `auto`. */
  configured: string
  /** HERD_HOME. */
  home: string
  /** The PATH to search in auto mode (default: this process's PATH). */
  pathEnv?: string
  signal?: AbortSignal
}

/**
 * Returns the llama-server to use, or null in auto mode when there is none (then the
 * caller may build one). A configured path that does not exist or does not run throws.
 */
export async function findLlamaServer(opts: FindLlamaServerOptions): Promise<LlamaServerInfo | null> {
  const { configured, home, signal } = opts
  if (configured !== 'auto') {
    const serverPath = resolve(configured)
    if (!(await isExecutableFile(serverPath))) {
      throw new HerdError('config_invalid', `llama.server: ${serverPath} is not an executable file`)
    }
    return describe(serverPath, null, signal)
  }
  const onPath = await searchPath('llama-server', opts.pathEnv ?? process.env.PATH ?? '')
  if (onPath) return describe(onPath, null, signal)
  for (const install of await listInstalls(llamaLayout(home))) {
    signal?.throwIfAborted()
    try {
      return await describe(install.serverPath, install.meta?.sharedLibs ? install.dir : null, signal)
    } catch (err: unknown) {
      // A broken install (say, built for another CPU) should not hide an older one that works.
      if (signal?.aborted) throw err
    }
  }
  return null
}

async function describe(serverPath: string, libDir: string | null, signal?: AbortSignal): Promise<LlamaServerInfo> {
  const fit = join(dirname(serverPath), 'llama-fit-params')
  const version = await readLlamaVersion(serverPath, { signal })
  return { serverPath, fitParamsPath: (await isExecutableFile(fit)) ? fit : null, version: version.text, libDir }
}

async function searchPath(name: string, pathEnv: string): Promise<string | null> {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue
    const candidate = join(dir, name)
    if (await isExecutableFile(candidate)) return candidate
  }
  return null
}
