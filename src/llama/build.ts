/**
 * `buildLlama`: source → cmake configure → cmake build → smoke test → atomic install.
 * Every step reuses what an earlier run left (cached bundle, checkout, build tree), so a
 * rebuild after an interrupted one, or over a tree configured by hand with the same flags,
 * is incremental.
 */
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { run } from './exec.ts'
import { type Install, installBuild, readInstall } from './install.ts'
import { BASE_CMAKE_ARGS, BUILD_TARGETS, buildKey, llamaLayout } from './layout.ts'
import { type OnBuildProgress, parseCmakeProgress } from './progress.ts'
import { resolveSource, type SourceSpec } from './source.ts'
import { readLlamaVersion } from './version.ts'

/** The npm package whose `llama/gitRelease.bundle` is the default source. */
export const DEFAULT_LLAMA_CPP_PACKAGE = 'node-llama-cpp@3.22.1'

export interface BuildLlamaOptions {
  /** HERD_HOME; everything goes under `<home>/llama`. */
  home: string
  /** npm package spec to take the bundle from (default {@link DEFAULT_LLAMA_CPP_PACKAGE}). */
  llamaCppPackage?: string
  /** Build from this git URL instead of the package's bundle. */
  gitUrl?: string
  /** Ref to build with `gitUrl` (branch, tag or commit; default `HEAD`). */
  ref?: string
  /** Extra cmake configure args (e.g. `-DGGML_CUDA=ON`); they change the build key. */
  cmakeArgs?: readonly string[]
  /** Rebuild and reinstall even when this key is installed. */
  force?: boolean
  /** Parallel compile jobs (default: the CPU count). */
  jobs?: number
  onProgress?: OnBuildProgress
  signal?: AbortSignal
}

export interface LlamaBuildResult {
  key: string
  sha: string
  /** The package spec or `url@ref` it came from. */
  origin: string
  installDir: string
  serverPath: string
  fitParamsPath: string | null
  /** What the installed llama-server says after `version:`. */
  version: string
  /** Folder to put on LD_LIBRARY_PATH when the install carries shared libraries; else null. */
  libDir: string | null
  /** True when the key was already installed and nothing was done. */
  alreadyInstalled: boolean
  elapsedMs: number
}

export async function buildLlama(opts: BuildLlamaOptions): Promise<LlamaBuildResult> {
  const started = performance.now()
  const { signal } = opts
  const onProgress: OnBuildProgress = opts.onProgress ?? (() => {})
  const layout = llamaLayout(opts.home)
  const cmakeArgs = [...(opts.cmakeArgs ?? [])]
  const spec: SourceSpec = opts.gitUrl
    ? { kind: 'git', url: opts.gitUrl, ref: opts.ref ?? 'HEAD' }
    : { kind: 'package', spec: opts.llamaCppPackage ?? DEFAULT_LLAMA_CPP_PACKAGE }
  const source = await resolveSource(spec, { layout, onProgress, signal })
  const key = buildKey(source.sha, cmakeArgs)
  const result = (install: Install, version: string, alreadyInstalled: boolean): LlamaBuildResult => ({
    key,
    sha: source.sha,
    origin: source.origin,
    installDir: install.dir,
    serverPath: install.serverPath,
    fitParamsPath: install.fitParamsPath,
    version,
    libDir: install.meta?.sharedLibs ? install.dir : null,
    alreadyInstalled,
    elapsedMs: Math.round(performance.now() - started),
  })

  const existing = await readInstall(layout.install(key))
  if (existing && !opts.force) {
    await source.dispose()
    const version = existing.meta?.version ?? (await readLlamaVersion(existing.serverPath, { signal })).text
    onProgress({ phase: 'done', message: `llama.cpp ${key} is already installed in ${existing.dir} (use --force to rebuild)` })
    return result(existing, version, true)
  }

  const srcDir = await source.checkout({ signal })
  const buildDir = layout.build(key)
  const onLine = (line: string): void => onProgress({ phase: 'log', message: line })

  onProgress({ phase: 'configure', message: `cmake ${srcDir} → ${buildDir}` })
  await run('cmake', ['-S', srcDir, '-B', buildDir, ...BASE_CMAKE_ARGS, ...cmakeArgs], { signal, onLine })

  const jobs = opts.jobs ?? availableParallelism()
  onProgress({ phase: 'build', percent: 0, message: `building ${BUILD_TARGETS.join(', ')} with -j${jobs}` })
  await run('cmake', ['--build', buildDir, '--target', ...BUILD_TARGETS, '-j', String(jobs)], {
    signal,
    onLine: (line) => {
      const p = parseCmakeProgress(line)
      onProgress(p ? { phase: 'build', ...p } : { phase: 'log', message: line })
    },
  })

  const binDir = join(buildDir, 'bin')
  onProgress({ phase: 'smoke', message: `${join(binDir, 'llama-server')} --version` })
  const version = await readLlamaVersion(join(binDir, 'llama-server'), { signal })

  onProgress({ phase: 'install', message: `installing into ${layout.install(key)}` })
  const install = await installBuild(layout, binDir, {
    key,
    sha: source.sha,
    origin: source.origin,
    cmakeArgs,
    version: version.text,
    installedAt: new Date().toISOString(),
  })
  const done = result(install, version.text, false)
  const libNote = done.libDir ? ` (shared libraries: set LD_LIBRARY_PATH=${done.libDir})` : ''
  onProgress({ phase: 'done', message: `installed llama-server ${version.text} in ${install.dir}${libNote}` })
  return done
}
