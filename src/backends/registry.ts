/**
 * Backends registered at run time (`POST /admin/backends`), for machines that cannot run
 * herd. They are kept in `HERD_HOME/backends.json` (written atomically, mode 600) as the
 * validated request bodies, which name their credential by reference only, and are built
 * on every start like the cookbook's.
 *
 * A registration may only reference what the operator set aside for it: environment
 * variables named `HERD_BACKEND_KEY_*` and files under `HERD_HOME/keys/`. Otherwise anyone
 * holding an admin key could point a backend at a server of theirs and have the node send
 * it any variable or owner-only file it can read (an SSH key, the cluster secret).
 */
import { mkdir, readFile, realpath, rename, writeFile } from 'node:fs/promises'
import { join, relative, isAbsolute } from 'node:path'
import { z } from 'zod'
import { backendSchema, buildBackend, type BackendFile, type BackendSpec } from '../config/index.ts'
import { HerdError, isHerdError } from '../errors/index.ts'

export const REGISTRY_FILE = 'backends.json'
/** Environment variables a registration may name as its `api_key_env`. */
export const KEY_ENV_PREFIX = 'HERD_BACKEND_KEY_'
/** The folder (under HERD_HOME) a registration's `api_key_file` must be in. */
export const KEYS_DIR = 'keys'

/** Body fields that would carry a key itself: refused with a message that says how to do it instead. */
const LITERAL_KEY_FIELDS = new Set(['api_key', 'apikey', 'key', 'token', 'api_token', 'access_token', 'password', 'secret', 'authorization'])
/** Extra headers that would carry a key itself. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'cookie'])

const BY_REFERENCE = `credentials are never sent in the body: name an environment variable of the node (api_key_env: ${KEY_ENV_PREFIX}…) or a file under HERD_HOME/${KEYS_DIR}/ (api_key_file)`

const fileSchema = z.looseObject({ backends: z.array(z.unknown()) })

export interface RegistryInit {
  home: string
  env?: NodeJS.ProcessEnv
}

export interface Registered {
  file: BackendFile
  spec: BackendSpec
}

export class BackendRegistry {
  private readonly init: RegistryInit
  private entries: BackendFile[] = []
  private writing: Promise<void> = Promise.resolve()

  constructor(init: RegistryInit) {
    this.init = init
  }

  get path(): string {
    return join(this.init.home, REGISTRY_FILE)
  }

  names(): string[] {
    return this.entries.map((e) => e.name)
  }

  /** Reads the file and builds every entry; one that no longer builds (a variable unset, a file gone) is reported, not fatal. */
  async load(): Promise<{ built: Registered[]; broken: { name: string; error: string }[] }> {
    const text = await readFile(this.path, 'utf8').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new HerdError('config_invalid', `${this.path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
    })
    this.entries = []
    if (text === undefined) return { built: [], broken: [] }
    let doc: z.infer<typeof fileSchema>
    try {
      doc = fileSchema.parse(JSON.parse(text))
    } catch (err: unknown) {
      throw new HerdError('config_invalid', `${this.path} is not a backends file ({"backends": [...]}); fix or remove it`, { cause: err })
    }
    const built: Registered[] = []
    const broken: { name: string; error: string }[] = []
    for (const raw of doc.backends) {
      const parsed = backendSchema.safeParse(raw)
      if (!parsed.success) {
        const name = (raw as { name?: unknown } | null)?.name
        broken.push({ name: typeof name === 'string' ? name.slice(0, 64) : '?', error: `${this.path}: an entry does not validate any more` })
        continue
      }
      this.entries.push(parsed.data)
      try {
        built.push({ file: parsed.data, spec: await this.build(parsed.data) })
      } catch (err: unknown) {
        broken.push({ name: parsed.data.name, error: isHerdError(err) ? err.message : String(err) })
      }
    }
    return { built, broken }
  }

  /** Validates a POST body (credentials by reference only) and builds it; nothing is stored yet. */
  async prepare(body: Record<string, unknown>): Promise<Registered> {
    for (const key of Object.keys(body))
      if (LITERAL_KEY_FIELDS.has(key.toLowerCase())) throw new HerdError('invalid_request', `${key}: ${BY_REFERENCE}`, { param: key })
    const headers = body['headers']
    if (typeof headers === 'object' && headers !== null) {
      for (const name of Object.keys(headers)) {
        if (CREDENTIAL_HEADERS.has(name.toLowerCase())) throw new HerdError('invalid_request', `headers.${name}: ${BY_REFERENCE}`, { param: 'headers' })
      }
    }
    const parsed = backendSchema.safeParse(body)
    if (!parsed.success) {
      const first = parsed.error.issues[0]
      const where = first === undefined ? '' : `${first.path.join('.')}: `
      throw new HerdError('invalid_request', `invalid backend: ${where}${first?.message ?? 'does not validate'}`, { param: String(first?.path[0] ?? '') })
    }
    return { file: parsed.data, spec: await this.build(parsed.data) }
  }

  /** Stores a prepared registration. */
  async add(file: BackendFile): Promise<void> {
    this.entries = [...this.entries.filter((e) => e.name !== file.name), file]
    await this.save()
  }

  async remove(name: string): Promise<boolean> {
    const before = this.entries.length
    this.entries = this.entries.filter((e) => e.name !== name)
    if (this.entries.length === before) return false
    await this.save()
    return true
  }

  private async build(file: BackendFile): Promise<BackendSpec> {
    const where = `backend '${file.name}'`
    if (file.api_key_env !== undefined && !/^HERD_BACKEND_KEY_[A-Z0-9]+(?:_[A-Z0-9]+)*$/.test(file.api_key_env)) {
      throw new HerdError('invalid_request', `${where}: api_key_env: a registered backend may only name variables ${KEY_ENV_PREFIX}<NAME> (upper case)`, {
        param: 'api_key_env',
      })
    }
    const keysDir = join(this.init.home, KEYS_DIR)
    if (file.api_key_file !== undefined) await insideKeysDir(keysDir, file.api_key_file, where)
    try {
      return await buildBackend(file, { dir: keysDir, ...(this.init.env === undefined ? {} : { env: this.init.env }), source: 'admin', where })
    } catch (err: unknown) {
      // A reference that does not resolve is the request's fault here, not the node's config.
      if (isHerdError(err) && err.code === 'config_invalid') throw new HerdError('invalid_request', err.message)
      throw err
    }
  }

  private save(): Promise<void> {
    const doc = `${JSON.stringify({ backends: this.entries }, null, 2)}\n`
    const run = async (): Promise<void> => {
      await mkdir(this.init.home, { recursive: true })
      const tmp = `${this.path}.${process.pid}.tmp`
      await writeFile(tmp, doc, { mode: 0o600 })
      // rename is atomic: a reader sees the old file or the new one, never half of one.
      await rename(tmp, this.path)
    }
    // One write at a time, in order.
    this.writing = this.writing.then(run, run)
    return this.writing
  }
}

/** Refuses an api_key_file outside HERD_HOME/keys (after following links). */
async function insideKeysDir(keysDir: string, path: string, where: string): Promise<void> {
  const refuse = (): never => {
    throw new HerdError('invalid_request', `${where}: api_key_file: a registered backend's key file must be in ${keysDir}`, { param: 'api_key_file' })
  }
  const dir = await realpath(keysDir).catch(() => refuse())
  const target = isAbsolute(path) ? path : join(keysDir, path)
  const real = await realpath(target).catch(() => {
    throw new HerdError('invalid_request', `${where}: api_key_file: ${target} cannot be read`, { param: 'api_key_file' })
  })
  const rel = relative(dir, real)
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) refuse()
}
