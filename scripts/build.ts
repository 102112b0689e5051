/**
 * `npm run build` (and `npm ci`'s prepare step): herd as the JavaScript bin/herd runs, bundled
 * by esbuild into dist/ — the CLI (dist/main.js) and the daemon (dist/daemon.js, for the
 * benches), dependencies included, with source maps beside them.
 *
 * Why compiled and bundled (npm run bench:memory): run from src/, Node strips the TypeScript
 * of every module with its swc wasm (~15 MiB resident for the life of the daemon), and loads
 * ~900 ES module files (and the CommonJS ones), each with its own records, source string and
 * resolution. The bundle is one file per lazy entry and needs neither: an idle daemon with
 * the mesh on holds 96 MiB instead of 135.
 *
 * dist/ is stale when any input is newer than dist/.built (written before the build reads its
 * inputs, so an edit made during the build makes the result stale too). bin/herd then runs
 * src/ instead (the same rule, as `find -newer`), and the test suite's global setup rebuilds,
 * so nobody runs compiled code older than the source.
 *
 *   node scripts/build.ts [--if-stale]
 */
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { argv } from 'node:process'

const ROOT = resolve(import.meta.dirname, '..')
export const DIST = join(ROOT, 'dist')
const STAMP = '.built'

/**
 * What the bundle is made of: herd's source, and the dependencies (their versions in the
 * lock files, their fixes in patches/). Keep in step with the `find` in bin/herd.
 */
export const BUILD_INPUTS: readonly string[] = ['src', 'package.json', 'package-lock.json', 'patches', 'node_modules/.package-lock.json']

/** True when `root`/dist holds a build at least as new as every input (file or folder, recursively). */
export async function distIsFresh(root = ROOT): Promise<boolean> {
  const built = await mtimeMs(join(root, 'dist', STAMP))
  if (built === undefined) return false
  for (const input of BUILD_INPUTS) if (await newerThan(join(root, input), built)) return false
  return true
}

/**
 * Build into a folder of its own, then swap it in as `dist` (default: the project's dist/), so
 * a bin/herd starting meanwhile never reads a half-written one.
 */
export async function build(dist = DIST): Promise<void> {
  const out = `${dist}.tmp-${process.pid}`
  await rm(out, { recursive: true, force: true })
  await mkdir(out)
  await writeFile(join(out, STAMP), `${new Date().toISOString()}\n`)
  try {
    await bundle(out)
  } catch (err: unknown) {
    await rm(out, { recursive: true, force: true })
    throw err
  }
  const old = `${dist}.old-${process.pid}`
  await rename(dist, old).catch(ignoreMissing)
  try {
    await rename(out, dist)
  } catch (err: unknown) {
    // Another build (a second test run) swapped its own in first: it is as fresh as ours.
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    await rm(out, { recursive: true, force: true })
  }
  await rm(old, { recursive: true, force: true })
}

async function bundle(out: string): Promise<void> {
  const { build: esbuild } = await import('esbuild')
  const result = await esbuild({
    entryPoints: { main: join(ROOT, 'src/cli/main.ts'), daemon: join(ROOT, 'src/daemon.ts') },
    outdir: out,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // The CLI's commands, mDNS and tracing stay behind dynamic imports: split into chunks, they
    // load only when used, as they do from src/ (pino-pretty, required at run time, stays out).
    splitting: true,
    // Every chunk directly in dist/: src/paths.ts finds the project one level up.
    chunkNames: '[name]-[hash]',
    // Not minified, so names in stack traces stay herd's; the maps (NODE_OPTIONS=--enable-source-maps)
    // point them back at src/. Node reads maps only when asked: loading them costs ~19 MiB.
    sourcemap: 'linked',
    // CommonJS dependencies (fastify, undici, pino) call require() for Node's own modules.
    banner: { js: "import { createRequire as __herdCreateRequire } from 'node:module'; const require = __herdCreateRequire(import.meta.url);" },
    logLevel: 'warning',
    write: false,
  })
  for (const file of result.outputFiles) {
    // V8 keeps every script's source for the life of the process, as one byte per character
    // only if all of it is Latin-1: one curly quote in a comment doubles a 1.7 MB chunk.
    // esbuild escapes non-ASCII in code (charset: ascii), not in the comments it keeps; those
    // become '?' here, one UTF-16 unit for one, so the source maps' columns still hold (-5 MiB).
    const text = file.path.endsWith('.js') ? file.text.replace(/[\u0080-\uffff]/g, '?') : file.text
    await writeFile(file.path, text)
  }
}

/** Build unless dist/ is fresh; says whether it built. */
export async function buildIfStale(): Promise<boolean> {
  if (await distIsFresh()) return false
  await build()
  return true
}

async function mtimeMs(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs
  } catch (err: unknown) {
    ignoreMissing(err)
    return undefined
  }
}

async function newerThan(path: string, than: number): Promise<boolean> {
  const m = await mtimeMs(path)
  if (m === undefined) return false
  if (m > than) return true
  const entries = await readdir(path, { withFileTypes: true }).catch(() => [])
  for (const e of entries) if (await newerThan(join(path, e.name), than)) return true
  return false
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
}

if (argv[1] !== undefined && resolve(argv[1]) === resolve(import.meta.filename)) {
  const built = argv.includes('--if-stale') ? await buildIfStale() : (await build(), true)
  process.stdout.write(built ? `built ${DIST}\n` : `${DIST} is up to date\n`)
}
