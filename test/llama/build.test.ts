import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildLlama, buildKey, type LlamaBuildEvent } from '../../src/llama/index.ts'
import { makeBundle, makeGitRepo, tempDir, writeFakeInstall } from './fakes.ts'

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

describe('buildLlama when the key is already installed', () => {
  it('does nothing for a cached package bundle and says it is installed', async () => {
    await mkdir(join(home, 'llama', 'cache'), { recursive: true })
    makeBundle(repo.path, join(home, 'llama', 'cache', 'fake-llama@1.0.0.bundle'))
    const key = buildKey(repo.sha)
    await writeFakeInstall(home, key, '2026-01-01T00:00:00Z', '0.5.0-dev (build 1, commit abc1234)')
    const events: LlamaBuildEvent[] = []

    const result = await buildLlama({ home, llamaCppPackage: 'fake-llama@1.0.0', onProgress: (e) => events.push(e) })

    expect(result).toMatchObject({ key, sha: repo.sha, alreadyInstalled: true, version: '0.5.0-dev (build 1, commit abc1234)' })
    expect(result.serverPath).toBe(join(home, 'llama', key, 'llama-server'))
    expect(events.at(-1)).toMatchObject({ phase: 'done', message: expect.stringMatching(/already installed/) })
    // No checkout, no build tree: nothing was done.
    expect((await readdir(join(home, 'llama'))).sort()).toEqual(['cache', key].sort())
  })

  it('does nothing for a --git build of a full commit hash, without touching the URL', async () => {
    const key = buildKey(repo.sha)
    await writeFakeInstall(home, key, '2026-01-01T00:00:00Z')

    const result = await buildLlama({ home, gitUrl: 'https://invalid.example/llama.cpp.git', ref: repo.sha })

    expect(result).toMatchObject({ key, alreadyInstalled: true, origin: `https://invalid.example/llama.cpp.git@${repo.sha}` })
  })

  it('resolves a branch of a git URL to its commit before deciding and cleans up its scratch fetch', async () => {
    const key = buildKey(repo.sha)
    await writeFakeInstall(home, key, '2026-01-01T00:00:00Z')

    const result = await buildLlama({ home, gitUrl: repo.path, ref: 'HEAD' })

    expect(result).toMatchObject({ key, sha: repo.sha, alreadyInstalled: true })
    expect(await readdir(join(home, 'llama', 'src'))).toEqual([])
  })

  it('keys a build with cmake args apart from the plain one, so the plain install does not count', async () => {
    await writeFakeInstall(home, buildKey(repo.sha), '2026-01-01T00:00:00Z')
    const withArgs = buildKey(repo.sha, ['-DGGML_CUDA=ON'])
    await writeFakeInstall(home, withArgs, '2026-01-01T00:00:00Z')

    const result = await buildLlama({ home, gitUrl: repo.path, ref: repo.sha, cmakeArgs: ['-DGGML_CUDA=ON'] })

    expect(result).toMatchObject({ key: withArgs, alreadyInstalled: true })
  })
})

describe('buildLlama when a build is needed', () => {
  it('checks out the source under src/<sha12> and stops at the first failing cmake step', async () => {
    // The fake repo's CMakeLists has no llama-server target, so the build step must fail.
    const events: LlamaBuildEvent[] = []
    await expect(buildLlama({ home, gitUrl: repo.path, ref: repo.sha, jobs: 1, onProgress: (e) => events.push(e) })).rejects.toThrow(/cmake/)
    expect(await readdir(join(home, 'llama', 'src'))).toEqual([repo.sha.slice(0, 12)])
    expect(events.map((e) => e.phase)).toContain('configure')
    expect(await readdir(join(home, 'llama'))).not.toContain(repo.sha.slice(0, 12))
  })
})
