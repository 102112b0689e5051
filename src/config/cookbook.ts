/**
 * Loading the cookbook: one YAML file, or a folder whose *.yaml / *.yml files are merged.
 * Validation is strict and every message names the file and the key path.
 */
import { collectFallbacks, collectRoutes } from './routes.ts'
import { readdir, stat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { Logger } from 'pino'
import { cookbookSchema } from './schema.ts'
import type { CookbookFile } from './schema.ts'
import type { BackendSpec, Cookbook, ProfileSpec } from './types.ts'
import { buildBackend } from './backend.ts'
import { configError, formatPath, toProblems } from './issues.ts'
import { buildProfile } from './profile.ts'
import { profilesOfModel, resolveModel } from './resolve.ts'
import { readYamlFile } from './yaml.ts'
import { deepFreeze } from './util.ts'

export interface LoadCookbookOptions {
  logger?: Logger
  /** Where backends' `api_key_env` are read. Default: process.env. */
  env?: NodeJS.ProcessEnv
}

const YAML_FILE = /\.ya?ml$/i

/** The files a cookbook path stands for: itself, or the folder's YAML files in name order. */
export async function cookbookFiles(path: string, logger?: Logger): Promise<string[]> {
  const abs = resolve(path)
  let isDir: boolean
  try {
    isDir = (await stat(abs)).isDirectory()
  } catch (err: unknown) {
    throw configError([`${abs}: cookbook not found`], err)
  }
  if (!isDir) return [abs]
  // Dot files are editor leftovers (.#x.yaml, .x.yaml.swp), never cookbook parts.
  const names = (await readdir(abs)).filter((n) => YAML_FILE.test(n) && !n.startsWith('.')).sort()
  if (names.length === 0) logger?.warn({ cookbook: abs }, 'cookbook folder has no .yaml files')
  return names.map((n) => join(abs, n))
}

interface Parsed {
  readonly file: string
  readonly data: CookbookFile
}

async function parseFiles(files: readonly string[]): Promise<Parsed[]> {
  const out: Parsed[] = []
  const lines: string[] = []
  for (const file of files) {
    const raw = await readYamlFile(file)
    const result = cookbookSchema.safeParse(raw)
    if (result.success) out.push({ file, data: result.data })
    else for (const p of toProblems(result.error.issues, raw)) lines.push(`${file}: ${formatPath(p.path, raw)}: ${p.message}`)
  }
  if (lines.length > 0) throw configError(lines)
  return out
}

/** Loads and validates a cookbook file or folder into its resolved, frozen form. */
export async function loadCookbook(path: string, options: LoadCookbookOptions = {}): Promise<Cookbook> {
  const { logger } = options
  const sources = await cookbookFiles(path, logger)
  const parsed = await parseFiles(sources)

  const modelFile = new Map<string, string>()
  const profiles = new Map<string, ProfileSpec>()
  const names = new Map<string, string>()
  const aliases = new Map<string, string>()
  const aliasFile = new Map<string, string>()
  let defaultSpec: { value: string; file: string } | undefined

  for (const { file, data } of parsed) {
    if (data.default_model !== undefined) {
      if (defaultSpec !== undefined && defaultSpec.value !== data.default_model) {
        throw configError([`default_model is set twice: "${defaultSpec.value}" in ${defaultSpec.file} and "${data.default_model}" in ${file}`])
      }
      defaultSpec = { value: data.default_model, file }
    }
    for (const model of data.models) {
      const first = modelFile.get(model.name)
      if (first !== undefined) {
        const where = first === file ? `twice in ${file}` : `in both ${first} and ${file}`
        throw configError([`model "${model.name}" is defined ${where}`])
      }
      modelFile.set(model.name, file)
      const seen = new Set<string>()
      for (const p of model.profiles) {
        if (seen.has(p.id)) throw configError([`${file}: models[${model.name}]: profile "${p.id}" is defined twice`])
        seen.add(p.id)
      }
    }
  }

  for (const { file, data } of parsed) {
    for (const model of data.models) {
      for (const alias of model.aliases) {
        const clash = modelFile.get(alias) ?? aliasFile.get(alias)
        if (clash !== undefined) {
          const what = modelFile.has(alias) ? 'a model name' : 'already an alias'
          throw configError([`${file}: models[${model.name}].aliases: "${alias}" is ${what} (in ${clash})`])
        }
        aliasFile.set(alias, file)
      }
      const enabled = model.enabled ? model.profiles.filter((p) => p.enabled) : []
      if (enabled.length === 0) {
        logger?.debug({ model: model.name, file }, 'model disabled or without enabled profiles; left out')
        continue
      }
      for (const p of enabled) {
        const spec = buildProfile(model.name, p, file, model.description)
        profiles.set(spec.id, spec)
      }
      const bare = enabled.find((p) => p.id === 'default') ?? (enabled.length === 1 ? enabled[0] : undefined)
      for (const alias of model.aliases) aliases.set(alias, model.name)
      if (bare === undefined) continue
      for (const name of [model.name, ...model.aliases]) names.set(name, `${model.name}:${bare.id}`)
    }
  }

  const backends = await loadBackends(parsed, { profiles, names, aliases }, options.env)
  const backendIds = new Set(backends.flatMap(backendNames))

  const partial: Cookbook = { profiles, names, aliases, defaultModel: undefined, sources }
  let defaultModel: string | undefined
  if (defaultSpec !== undefined) {
    defaultModel = resolveModel(partial, defaultSpec.value) ?? backendModelId(backends, defaultSpec.value)
    if (defaultModel === undefined) {
      const several = profilesOfModel(partial, defaultSpec.value)
      const why =
        several.length > 1
          ? `model "${defaultSpec.value}" has several profiles and none is called default; name one of ${several.join(', ')}`
          : `"${defaultSpec.value}" is not an enabled model, model:profile, alias or listed backend model`
      throw configError([`${defaultSpec.file}: default_model: ${why}`])
    }
  }
  const routes = collectRoutes(parsed, (name) =>
    modelFile.has(name) ? 'a model name' : aliasFile.has(name) ? 'an alias' : backendIds.has(name) ? "a backend model's name" : undefined,
  )
  const fallbacks = collectFallbacks(parsed, (model) => [...profiles.values()].filter((p) => p.model === model).map((p) => p.id))
  logger?.debug({ sources, profiles: profiles.size, routes: routes.size, backends: backends.length }, 'cookbook loaded')
  const equivalents = parsed.flatMap(({ data }) => data.equivalents.map((group) => [...group]))
  return deepFreeze({ profiles, names, aliases, defaultModel, sources, routes, fallbacks, backends, equivalents })
}

/** Every file's `backends:`, built, with names unique and no model id or alias that a cookbook model already uses. */
async function loadBackends(
  parsed: readonly Parsed[],
  taken: { profiles: ReadonlyMap<string, unknown>; names: ReadonlyMap<string, unknown>; aliases: ReadonlyMap<string, unknown> },
  env: NodeJS.ProcessEnv | undefined,
): Promise<BackendSpec[]> {
  const out: BackendSpec[] = []
  const backendFile = new Map<string, string>()
  const ids = new Map<string, string>()
  for (const { file, data } of parsed) {
    for (const b of data.backends) {
      const where = `${file}: backends[${b.name}]`
      const first = backendFile.get(b.name)
      if (first !== undefined) throw configError([`backend "${b.name}" is defined ${first === file ? `twice in ${file}` : `in both ${first} and ${file}`}`])
      backendFile.set(b.name, file)
      const spec = await buildBackend(b, { dir: dirname(file), ...(env === undefined ? {} : { env }), source: file, where })
      for (const id of backendNames(spec)) {
        if (taken.profiles.has(id) || taken.names.has(id) || taken.aliases.has(id)) throw configError([`${where}: "${id}" is also a cookbook model's name`])
        const clash = ids.get(id)
        if (clash !== undefined) throw configError([`${where}: "${id}" is also a name in backends[${clash}]`])
        ids.set(id, b.name)
      }
      out.push(spec)
    }
  }
  return out
}

/** The id of the listed backend model a name (id or alias) means. */
function backendModelId(backends: readonly BackendSpec[], name: string): string | undefined {
  for (const b of backends) {
    for (const m of b.models) if (`${b.name}/${m.name}` === name || m.aliases.includes(name)) return `${b.name}/${m.name}`
  }
  return undefined
}

/** The ids (`backend/model`) and aliases clients may use for a backend's listed models. */
export function backendNames(spec: Pick<BackendSpec, 'name' | 'models'>): string[] {
  return spec.models.flatMap((m) => [`${spec.name}/${m.name}`, ...m.aliases])
}
