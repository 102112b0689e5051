/**
 * Loading the node config: defaults < YAML file < HERD_* environment < command-line flags,
 * validated once against the strict schema, paths resolved, then frozen.
 */
import { stat } from 'node:fs/promises'
import { homedir, hostname } from 'node:os'
import { dirname, join } from 'node:path'
import type { z } from 'zod'
import { configSchema } from './schema.ts'
import type { Config } from './types.ts'
import { readEnvOverrides } from './env.ts'
import { configError, formatPath, toProblems } from './issues.ts'
import { readYamlFile } from './yaml.ts'
import { deepFreeze, deepMerge, getPath, resolveCommand, resolveFrom } from './util.ts'

/** Config values from command-line flags (any subset of the file's keys). */
export type ConfigOverrides = z.input<typeof configSchema>

export interface LoadConfigOptions {
  /** The `--config` value. Default: `$HERD_HOME/config.yaml` when it exists, else built-in defaults. */
  file?: string
  /** Default: process.env. Read for HERD_HOME, HOME and HERD_* overrides. */
  env?: NodeJS.ProcessEnv
  /** Values from flags; they win over the file and the environment. */
  argvOverrides?: ConfigOverrides
  /** Base for relative paths given on the command line or in the environment. Default: process.cwd(). */
  cwd?: string
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

/** Loads, validates and freezes the node config. Throws HerdError('config_invalid') naming the key and its source. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<Config> {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const userHome = env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir()
  const herdHome = env['HERD_HOME'] !== undefined && env['HERD_HOME'] !== '' ? env['HERD_HOME'] : '~/.herd'
  const home = resolveFrom(cwd, herdHome, userHome)

  let file: string | undefined
  if (options.file !== undefined) file = resolveFrom(cwd, options.file, userHome)
  else if (await isFile(join(home, 'config.yaml'))) file = join(home, 'config.yaml')

  const fromFile = file === undefined ? {} : await readYamlFile(file)
  const fromEnv = readEnvOverrides(env)
  const fromArgv = (options.argvOverrides ?? {}) as Record<string, unknown>
  const merged = deepMerge(deepMerge(fromFile, fromEnv.values), fromArgv)

  /** Who set the value at `path`, so a message (and a relative path) is read against the right place. */
  const originOf = (path: readonly PropertyKey[]): { label: string; fromFile: boolean; envVar?: string } => {
    if (getPath(fromArgv, path.slice(0, 2)) !== undefined) return { label: 'command line', fromFile: false }
    const envVar = fromEnv.sources.get(path.slice(0, 2).join('.')) ?? fromEnv.sources.get(String(path[0]))
    if (envVar !== undefined) return { label: envVar, fromFile: false, envVar }
    return { label: file ?? 'config', fromFile: true }
  }

  const parsed = configSchema.safeParse(merged)
  if (!parsed.success) {
    const lines = toProblems(parsed.error.issues, merged).map((p) => {
      const origin = originOf(p.path)
      // An env var already names its key; repeat the path only when the problem is deeper (a list item).
      const key = origin.envVar !== undefined && p.path.length <= 2 ? '' : `${formatPath(p.path, merged)}: `
      return `${origin.label}: ${key}${p.message}`
    })
    throw configError(lines, parsed.error)
  }
  const cfg = parsed.data

  const baseFor = (path: readonly PropertyKey[]): string => (originOf(path).fromFile && file !== undefined ? dirname(file) : cwd)

  const config: Config = {
    node: { name: cfg.node.name ?? hostname() },
    http: {
      ...cfg.http,
      tls:
        cfg.http.tls === null
          ? null
          : {
              cert_file: resolveFrom(baseFor(['http', 'tls', 'cert_file']), cfg.http.tls.cert_file, userHome),
              key_file: resolveFrom(baseFor(['http', 'tls', 'key_file']), cfg.http.tls.key_file, userHome),
            },
    },
    mesh: {
      ...cfg.mesh,
      secret_file: cfg.mesh.secret_file === null ? null : resolveFrom(baseFor(['mesh', 'secret_file']), cfg.mesh.secret_file, userHome),
    },
    llama: {
      ...cfg.llama,
      server: cfg.llama.server === 'auto' ? 'auto' : resolveCommand(baseFor(['llama', 'server']), cfg.llama.server, userHome),
    },
    resources: {
      ...cfg.resources,
      nvidia_smi: resolveCommand(baseFor(['resources', 'nvidia_smi']), cfg.resources.nvidia_smi, userHome),
    },
    tenants: cfg.tenants,
    cache: cfg.cache,
    telemetry: cfg.telemetry,
    cookbook: resolveFrom(baseFor(['cookbook']), cfg.cookbook, userHome),
    model_dirs: cfg.model_dirs.map((dir) => resolveFrom(baseFor(['model_dirs']), dir, userHome)),
    log_level: cfg.log_level,
    log_format: cfg.log_format,
    home,
    file,
  }
  return deepFreeze(config)
}
