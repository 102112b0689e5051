/**
 * bin/herd runs the bundle in dist/ only while it is at least as new as everything it is
 * built from, and src/ otherwise; scripts/build.ts's freshness rule (used by the test setup
 * and the benches to rebuild) must agree with it. Checked on a scratch copy of the layout:
 * bin/herd, a src/ and a dist/ whose main files say which one ran, and the project's Node.
 */
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { build, distIsFresh } from '../../scripts/build.ts'
import { HERD, NODE, ROOT } from '../helpers/herd-process.ts'

const run = promisify(execFile)
let dir: string

/** Sets a file's (or folder's) mtime to `at` seconds from now. */
const age = (path: string, at: number): Promise<void> => utimes(path, Date.now() / 1000 + at, Date.now() / 1000 + at)

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-dist-'))
  await mkdir(join(dir, 'bin'))
  await copyFile(HERD, join(dir, 'bin', 'herd'))
  await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true })
  await symlink(NODE, join(dir, 'node_modules', '.bin', 'node'))
  await mkdir(join(dir, 'src', 'cli'), { recursive: true })
  await writeFile(join(dir, 'src', 'cli', 'main.ts'), "process.stdout.write('src ' + process.argv.slice(2).join(' '))\n")
  await writeFile(join(dir, 'src', 'cli', 'other.ts'), '\n')
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n')
  await writeFile(join(dir, 'package-lock.json'), '{}\n')
  await writeFile(join(dir, 'node_modules', '.package-lock.json'), '{}\n')
  await mkdir(join(dir, 'patches'))
  for (const p of ['src/cli/main.ts', 'src/cli/other.ts', 'src/cli', 'src', 'package.json', 'package-lock.json', 'node_modules/.package-lock.json', 'patches'])
    await age(join(dir, p), -60)
  await mkdir(join(dir, 'dist'))
  await writeFile(join(dir, 'dist', 'main.js'), "process.stdout.write('dist ' + process.argv.slice(2).join(' '))\n")
  await writeFile(join(dir, 'dist', '.built'), '')
})
afterEach(() => rm(dir, { recursive: true, force: true }))

/** What ran ('dist' or 'src'), and whether build.ts's rule says the same. */
async function whichRuns(): Promise<string> {
  const { stdout } = await run(join(dir, 'bin', 'herd'), ['--version'])
  const fresh = await distIsFresh(dir)
  expect(fresh, `bin/herd ran ${stdout} but distIsFresh says ${fresh}`).toBe(stdout.startsWith('dist'))
  return stdout
}

describe('bin/herd and dist/', () => {
  it('runs dist/main.js, with the arguments, when dist/ is newer than every input', async () => {
    expect(await whichRuns()).toBe('dist --version')
  })

  it('runs src/ when there is no build', async () => {
    await rm(join(dir, 'dist'), { recursive: true })
    expect(await whichRuns()).toBe('src --version')
  })

  it('runs src/ when a source file was edited after the build', async () => {
    await age(join(dir, 'src', 'cli', 'other.ts'), 1)
    expect(await whichRuns()).toBe('src --version')
  })

  it('runs src/ when a source file was deleted after the build (its folder changed)', async () => {
    await unlink(join(dir, 'src', 'cli', 'other.ts'))
    await age(join(dir, 'src', 'cli'), 1)
    expect(await whichRuns()).toBe('src --version')
  })

  it.each(['package-lock.json', 'node_modules/.package-lock.json', 'patches'])(
    'runs src/ when %s changed after the build (the bundle holds the dependencies)',
    async (input) => {
      await age(join(dir, input), 1)
      expect(await whichRuns()).toBe('src --version')
    },
  )
})

describe('npm run build', () => {
  it('bundles a flat dist/ that finds the project one level up and answers like src/', async () => {
    // Built beside a copy of package.json, not over the project's dist/ (other tests run it).
    await copyFile(join(ROOT, 'package.json'), join(dir, 'package.json'))
    await rm(join(dir, 'dist'), { recursive: true })
    await build(join(dir, 'dist'))
    const { stdout: fromSrc } = await run(NODE, [join(ROOT, 'src/cli/main.ts'), '--version'])
    const { stdout: fromDist } = await run(NODE, [join(dir, 'dist/main.js'), '--version'])
    expect(fromDist).toBe(fromSrc)
    expect(fromDist).toMatch(/^herd \d+\.\d+\.\d+/)
    const { stdout } = await run(join(dir, 'bin', 'herd'), ['--version'])
    expect(stdout).toBe(fromSrc)
    expect(await distIsFresh(dir)).toBe(true)
  })
})
