/**
 * Getting llama.cpp source: from the git bundle the npm package ships (cached, so a second
 * build needs no network) or from any git URL and ref. Either way the checkout lands in
 * `<home>/llama/src/<sha12>`, renamed into place only once complete.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { HerdError } from '../errors/index.ts'
import { exists } from './fsutil.ts'
import { run } from './exec.ts'
import { type LlamaLayout, packageCacheName } from './layout.ts'
import type { OnBuildProgress } from './progress.ts'

export type SourceSpec = { kind: 'package'; spec: string } | { kind: 'git'; url: string; ref: string }

export interface ResolvedSource {
  /** Full commit hash of what will be built. */
  sha: string
  /** Human description: the package spec or `url@ref`. */
  origin: string
  /** Makes sure `<home>/llama/src/<sha12>` holds the checkout; returns that folder. */
  checkout: (opts: { signal?: AbortSignal }) => Promise<string>
  /** Removes scratch state (a fetch repo) when the checkout is not needed after all. */
  dispose: () => Promise<void>
}

interface Ctx {
  layout: LlamaLayout
  onProgress: OnBuildProgress
  signal?: AbortSignal
}

const GIT = ['-c', 'advice.detachedHead=false']

export async function resolveSource(source: SourceSpec, ctx: Ctx): Promise<ResolvedSource> {
  return source.kind === 'package' ? resolvePackage(source.spec, ctx) : resolveGit(source.url, source.ref, ctx)
}

async function resolvePackage(spec: string, ctx: Ctx): Promise<ResolvedSource> {
  const bundle = await ensureBundle(spec, ctx)
  const { stdout } = await run('git', ['bundle', 'list-heads', bundle], { signal: ctx.signal })
  const heads = stdout
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/))
  const head = heads.find((h) => h[1] === 'HEAD') ?? heads[0]
  const sha = head?.[0]
  if (!sha || !/^[0-9a-f]{40}$/.test(sha)) throw new HerdError('internal', `no commit found in ${bundle}`)
  return {
    sha,
    origin: spec,
    dispose: async () => {},
    checkout: async ({ signal }) =>
      placeCheckout(ctx.layout, sha, signal, async (tmp) => {
        ctx.onProgress({ phase: 'source', message: `cloning ${sha.slice(0, 12)} from ${bundle}` })
        await run('git', [...GIT, 'clone', '--no-checkout', bundle, tmp], { signal })
        await run('git', [...GIT, '-C', tmp, 'checkout', '--detach', sha], { signal })
      }),
  }
}

/** The bundle inside the npm package, extracted once into the cache. */
async function ensureBundle(spec: string, ctx: Ctx): Promise<string> {
  const { layout, signal } = ctx
  const bundle = join(layout.cache, `${packageCacheName(spec)}.bundle`)
  if (await exists(bundle)) return bundle
  await mkdir(layout.cache, { recursive: true })
  const scratch = join(layout.cache, `.pack-${randomBytes(4).toString('hex')}`)
  await mkdir(scratch)
  try {
    ctx.onProgress({ phase: 'source', message: `fetching ${spec} with npm pack` })
    const { stdout } = await run('npm', ['pack', spec, '--pack-destination', scratch, '--json'], { signal })
    const tgz = (await readdir(scratch)).find((f) => f.endsWith('.tgz'))
    if (!tgz) throw new HerdError('internal', `npm pack ${spec} produced no tarball: ${stdout.slice(0, 300)}`)
    await run('tar', ['-xzf', join(scratch, tgz), '-C', scratch, 'package/llama/gitRelease.bundle'], { signal })
    await rename(join(scratch, 'package/llama/gitRelease.bundle'), bundle)
    return bundle
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

async function resolveGit(url: string, ref: string, ctx: Ctx): Promise<ResolvedSource> {
  const { layout, signal } = ctx
  // A full hash needs no network to know what it names: an installed build stays offline.
  if (/^[0-9a-f]{40}$/i.test(ref)) {
    const sha = ref.toLowerCase()
    return {
      sha,
      origin: `${url}@${ref}`,
      dispose: async () => {},
      checkout: async (opts) => placeCheckout(layout, sha, opts.signal, (tmp) => fetchInto(tmp, url, sha, ctx, opts.signal)),
    }
  }
  const scratch = scratchDir(layout)
  await fetchInto(scratch, url, ref, ctx, signal)
  const { stdout } = await run('git', ['-C', scratch, 'rev-parse', 'FETCH_HEAD'], { signal })
  const sha = stdout.trim()
  const dispose = (): Promise<void> => rm(scratch, { recursive: true, force: true })
  return {
    sha,
    origin: `${url}@${ref}`,
    dispose,
    checkout: async (opts) => {
      try {
        return await placeCheckout(layout, sha, opts.signal, (tmp) => rename(scratch, tmp))
      } finally {
        await dispose()
      }
    },
  }
}

async function fetchInto(dir: string, url: string, ref: string, ctx: Ctx, signal?: AbortSignal): Promise<void> {
  ctx.onProgress({ phase: 'source', message: `fetching ${ref} from ${url}` })
  await mkdir(dir, { recursive: true })
  await run('git', ['init', '-q', dir], { signal })
  await run('git', ['-C', dir, 'fetch', '-q', '--depth', '1', url, ref], { signal })
  await run('git', [...GIT, '-C', dir, 'checkout', '-q', '--detach', 'FETCH_HEAD'], { signal })
}

/** Reuses a complete checkout of `sha`, or fills a scratch folder and renames it into place. */
async function placeCheckout(layout: LlamaLayout, sha: string, signal: AbortSignal | undefined, fill: (tmp: string) => Promise<void>): Promise<string> {
  const dest = layout.src(sha)
  if (await headIs(dest, sha, signal)) return dest
  await rm(dest, { recursive: true, force: true })
  const tmp = scratchDir(layout)
  await mkdir(dirname(tmp), { recursive: true })
  try {
    await fill(tmp)
    if (!(await headIs(tmp, sha, signal))) throw new HerdError('internal', `checkout of ${sha} did not end at that commit`)
    await rename(tmp, dest)
    return dest
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}

async function headIs(dir: string, sha: string, signal?: AbortSignal): Promise<boolean> {
  if (!(await exists(join(dir, '.git')))) return false
  try {
    const { stdout } = await run('git', ['-C', dir, 'rev-parse', 'HEAD'], { signal })
    return stdout.trim() === sha
  } catch (err: unknown) {
    if (signal?.aborted) throw err
    return false
  }
}

function scratchDir(layout: LlamaLayout): string {
  return join(layout.root, 'src', `.tmp-${randomBytes(4).toString('hex')}`)
}
