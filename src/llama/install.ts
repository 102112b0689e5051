/**
 * Installs: `<home>/llama/<key>/` with the binaries and an install.json. An install appears
 * whole or not at all (filled beside, then renamed), so a daemon looking for llama-server
 * never picks up a half-copied binary.
 */
import { randomBytes } from 'node:crypto'
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HerdError } from '../errors/index.ts'
import { exists, isExecutableFile } from './fsutil.ts'
import { BUILD_TARGETS, INSTALL_META, type LlamaLayout, RESERVED_DIRS } from './layout.ts'

export interface InstallMeta {
  key: string
  sha: string
  origin: string
  cmakeArgs: string[]
  version: string
  installedAt: string
  /** Shared libraries were carried along: put the install folder on LD_LIBRARY_PATH. */
  sharedLibs: boolean
}

export interface Install {
  dir: string
  serverPath: string
  fitParamsPath: string | null
  meta: InstallMeta | null
  /** When it was installed (install.json, else the binary's mtime), for "newest". */
  installedAtMs: number
}

/** Reads the install at `dir`, or null when it has no executable llama-server. */
export async function readInstall(dir: string): Promise<Install | null> {
  const serverPath = join(dir, 'llama-server')
  if (!(await isExecutableFile(serverPath))) return null
  const fitPath = join(dir, 'llama-fit-params')
  let meta: InstallMeta | null = null
  try {
    meta = JSON.parse(await readFile(join(dir, INSTALL_META), 'utf8')) as InstallMeta
  } catch (err: unknown) {
    // An install copied in by hand has no metadata; it is still usable.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err
  }
  const parsed = meta ? Date.parse(meta.installedAt) : Number.NaN
  const installedAtMs = Number.isFinite(parsed) ? parsed : (await stat(serverPath)).mtimeMs
  return { dir, serverPath, fitParamsPath: (await isExecutableFile(fitPath)) ? fitPath : null, meta, installedAtMs }
}

/** Every install under `<home>/llama`, newest first. */
export async function listInstalls(layout: LlamaLayout): Promise<Install[]> {
  let names: string[]
  try {
    names = await readdir(layout.root)
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const installs: Install[] = []
  for (const name of names) {
    if (RESERVED_DIRS.has(name) || name.startsWith('.')) continue
    const found = await readInstall(join(layout.root, name))
    if (found) installs.push(found)
  }
  return installs.sort((a, b) => b.installedAtMs - a.installedAtMs)
}

/**
 * Copies the targets (and any lib*.so* beside them) from `binDir` into `<home>/llama/<key>`,
 * replacing an older install of the same key in one rename.
 */
export async function installBuild(layout: LlamaLayout, binDir: string, meta: Omit<InstallMeta, 'sharedLibs'>): Promise<Install> {
  const dest = layout.install(meta.key)
  const tmp = join(layout.root, `.install-${meta.key}-${randomBytes(4).toString('hex')}`)
  const old = `${tmp}.old`
  await mkdir(tmp, { recursive: true })
  try {
    for (const target of BUILD_TARGETS) {
      const from = join(binDir, target)
      if (!(await exists(from))) throw new HerdError('internal', `build produced no ${target} in ${binDir}`)
      await copyFile(from, join(tmp, target))
      await chmod(join(tmp, target), 0o755)
    }
    const libs = (await readdir(binDir)).filter((f) => /^lib.*\.so(\.|$)/.test(f))
    for (const lib of libs) await copyFile(join(binDir, lib), join(tmp, lib))
    const full: InstallMeta = { ...meta, sharedLibs: libs.length > 0 }
    await writeFile(join(tmp, INSTALL_META), `${JSON.stringify(full, null, 2)}\n`)
    const hadOld = await exists(dest)
    if (hadOld) await rename(dest, old)
    await rename(tmp, dest)
    if (hadOld) await rm(old, { recursive: true, force: true })
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  const installed = await readInstall(dest)
  if (!installed) throw new HerdError('internal', `install at ${dest} has no llama-server`)
  return installed
}
