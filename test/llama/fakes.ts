/** Stand-ins for the build tools' outputs: a fake llama-server, a tiny git repo, an install. */
import { execFileSync } from 'node:child_process'
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export async function tempDir(prefix = 'herd-llama-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

/** A shell script that answers `--version` the way llama-server does (on stderr). */
export async function writeFakeServer(path: string, version = '0.5.0-dev (build 7, commit abc1234)'): Promise<string> {
  await writeFile(path, `#!/bin/sh\necho "version: ${version}" >&2\necho "built with cc for test" >&2\n`)
  await chmod(path, 0o755)
  return path
}

/** A fake install: `<home>/llama/<key>/` with both binaries and install.json. */
export async function writeFakeInstall(home: string, key: string, installedAt: string, version?: string): Promise<string> {
  const dir = join(home, 'llama', key)
  await mkdir(dir, { recursive: true })
  await writeFakeServer(join(dir, 'llama-server'), version)
  await writeFakeServer(join(dir, 'llama-fit-params'), version)
  const meta = { key, sha: `${key}0000`, origin: 'test', cmakeArgs: [], version: version ?? 'fake', installedAt, sharedLibs: false }
  await writeFile(join(dir, 'install.json'), JSON.stringify(meta))
  return dir
}

/** A one-commit git repo; returns its path and commit. */
export function makeGitRepo(dir: string): { path: string; sha: string } {
  const git = (...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-C', dir, ...args], { encoding: 'utf8' }).trim()
  execFileSync('git', ['init', '-q', dir])
  execFileSync('sh', ['-c', `echo 'project(fake)' > '${dir}/CMakeLists.txt'`])
  git('add', '.')
  git('commit', '-q', '-m', 'fake llama.cpp')
  return { path: dir, sha: git('rev-parse', 'HEAD') }
}

/** A git bundle of that repo, where the package cache would hold it. */
export function makeBundle(repo: string, bundlePath: string): void {
  execFileSync('git', ['-C', repo, 'bundle', 'create', bundlePath, 'HEAD', '--all'], { stdio: 'ignore' })
}
