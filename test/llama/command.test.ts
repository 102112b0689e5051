import { rm } from 'node:fs/promises'
import { PassThrough } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildKey, llamaBuildCommand, parseLlamaBuildArgs } from '../../src/llama/index.ts'
import { makeGitRepo, tempDir, writeFakeInstall } from './fakes.ts'

function capture(): { out: PassThrough; text: () => string } {
  const out = new PassThrough()
  let text = ''
  out.on('data', (c: Buffer) => {
    text += c.toString()
  })
  return { out, text: () => text }
}

describe('parseLlamaBuildArgs', () => {
  it('defaults to the package bundle with no extra cmake args', () => {
    expect(parseLlamaBuildArgs([])).toEqual({ gitUrl: undefined, ref: undefined, force: false, verbose: false, help: false, jobs: undefined, cmakeArgs: [] })
  })

  it('reads --git, --ref, --force and --jobs in both spaced and = forms', () => {
    expect(parseLlamaBuildArgs(['--git', 'https://x/l.git', '--ref=b4000', '--force', '-j', '8'])).toMatchObject({
      gitUrl: 'https://x/l.git',
      ref: 'b4000',
      force: true,
      jobs: 8,
    })
  })

  it('collects repeated --cmake-arg and everything after -- as cmake args, in order', () => {
    const args = parseLlamaBuildArgs(['--cmake-arg', '-DGGML_CUDA=ON', '--cmake-arg=-DX=1', '--', '-DY=2', '--force'])
    expect(args.cmakeArgs).toEqual(['-DGGML_CUDA=ON', '-DX=1', '-DY=2', '--force'])
    expect(args.force).toBe(false)
  })

  it('rejects unknown flags, missing values, bad job counts and --ref without --git', () => {
    expect(() => parseLlamaBuildArgs(['--nope'])).toThrow(/unknown argument: --nope/)
    expect(() => parseLlamaBuildArgs(['--git'])).toThrow(/--git needs a value/)
    expect(() => parseLlamaBuildArgs(['--jobs', '0'])).toThrow(/positive integer/)
    expect(() => parseLlamaBuildArgs(['--ref', 'main'])).toThrow(/--ref needs --git/)
  })
})

describe('llamaBuildCommand', () => {
  let home: string
  let repo: { path: string; sha: string }

  beforeEach(async () => {
    home = await tempDir()
    repo = makeGitRepo(await tempDir('herd-llama-repo-'))
  })

  afterEach(async () => {
    await rm(home, { recursive: true, force: true })
    await rm(repo.path, { recursive: true, force: true })
  })

  it('exits 2 with the usage on a bad argument', async () => {
    const { out, text } = capture()
    expect(await llamaBuildCommand(['--bogus'], out, { env: { HERD_HOME: home } })).toBe(2)
    expect(text()).toMatch(/unknown argument: --bogus[\s\S]*usage: herd llama build/)
  })

  it('prints the usage and exits 0 on --help', async () => {
    const { out, text } = capture()
    expect(await llamaBuildCommand(['--help'], out, { env: { HERD_HOME: home } })).toBe(0)
    expect(text()).toMatch(/^usage: herd llama build/)
  })

  it('says the build under HERD_HOME is already installed and exits 0', async () => {
    const key = buildKey(repo.sha)
    await writeFakeInstall(home, key, '2026-01-01T00:00:00Z')
    const { out, text } = capture()
    expect(await llamaBuildCommand(['--git', repo.path, '--ref', repo.sha], out, { env: { HERD_HOME: home } })).toBe(0)
    expect(text()).toContain(`llama.cpp ${key} is already installed in ${home}/llama/${key}`)
    expect(text()).toContain(`llama-server ${home}/llama/${key}/llama-server`)
  })

  it('exits 1 and says why when the build fails', async () => {
    const { out, text } = capture()
    expect(await llamaBuildCommand(['--git', `${repo.path}/missing`, '--ref', 'main'], out, { env: { HERD_HOME: home } })).toBe(1)
    expect(text()).toMatch(/herd llama build failed: .*git/)
  })

  it('exits 1 and says the build tree is kept when it is interrupted', async () => {
    const { out, text } = capture()
    const signal = AbortSignal.abort()
    expect(await llamaBuildCommand(['--git', repo.path, '--ref', 'HEAD'], out, { env: { HERD_HOME: home }, signal })).toBe(1)
    expect(text()).toContain('interrupted; the build tree is kept')
  })
})
