/**
 * Where llama.cpp lives under HERD_HOME, and how a build is named. The layout is shared
 * with builds made by hand (same folders, same configure flags), so a build started
 * outside herd finishes incrementally when `herd llama build` runs over it.
 *
 *   <home>/llama/cache/<package>.bundle   git bundle taken from the npm package
 *   <home>/llama/src/<sha12>/             checkout
 *   <home>/llama/build/<key>/             cmake build tree
 *   <home>/llama/<key>/                   installed binaries + install.json
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'

/** Configure flags every build gets; user cmake args come after them and may override. */
export const BASE_CMAKE_ARGS: readonly string[] = Object.freeze([
  '-DLLAMA_CURL=OFF',
  '-DGGML_NATIVE=ON',
  '-DLLAMA_BUILD_TESTS=OFF',
  '-DLLAMA_BUILD_EXAMPLES=OFF',
  '-DCMAKE_BUILD_TYPE=Release',
  '-DBUILD_SHARED_LIBS=OFF',
  // herd proxies /v1 and never serves llama-server's web UI; fetching its prebuilt assets
  // would reach for huggingface.co on every build, and hang where the network is closed.
  '-DLLAMA_USE_PREBUILT_UI=OFF',
])

/** The binaries a build produces and an install carries. */
export const BUILD_TARGETS: readonly string[] = Object.freeze(['llama-server', 'llama-fit-params'])

/** Names under `<home>/llama` that are not installs. */
export const RESERVED_DIRS: ReadonlySet<string> = new Set(['cache', 'src', 'build'])

/** The metadata file written into every install. */
export const INSTALL_META = 'install.json'

/**
 * Build key: the first 12 hex digits of the source commit, plus 8 hex digits of a hash of
 * the user's cmake args when there are any, so a CUDA build and a CPU build of the same
 * commit live side by side.
 */
export function buildKey(sha: string, cmakeArgs: readonly string[] = []): string {
  if (!/^[0-9a-f]{12,}$/i.test(sha)) throw new Error(`not a commit hash: ${sha}`)
  const sha12 = sha.slice(0, 12).toLowerCase()
  if (cmakeArgs.length === 0) return sha12
  // NUL-joined so that ['-DA=1 -DB=2'] and ['-DA=1', '-DB=2'] differ.
  const digest = createHash('sha256').update(cmakeArgs.join('\0')).digest('hex').slice(0, 8)
  return `${sha12}-${digest}`
}

export interface LlamaLayout {
  root: string
  cache: string
  src: (sha: string) => string
  build: (key: string) => string
  install: (key: string) => string
}

export function llamaLayout(home: string): LlamaLayout {
  const root = join(home, 'llama')
  return {
    root,
    cache: join(root, 'cache'),
    src: (sha) => join(root, 'src', sha.slice(0, 12).toLowerCase()),
    build: (key) => join(root, 'build', key),
    install: (key) => join(root, key),
  }
}

/** A file name for a cached npm package spec (`node-llama-cpp@3.22.1` → `node-llama-cpp@3.22.1`). */
export function packageCacheName(spec: string): string {
  return spec.replace(/^@/, '').replace(/[^A-Za-z0-9._@-]/g, '_')
}
