/**
 * What `llama-server --version` says about itself. It prints to stderr, after whatever the
 * backends and the server log first (CUDA device lists, `initializing ...`), so the parser
 * looks for the `version:` line anywhere in the combined output. Two formats exist.
 */
import { HerdError } from '../errors/index.ts'
import { run } from './exec.ts'

export interface LlamaVersion {
  /** The release it calls itself (`0.5.0-dev`), when the binary prints one; older builds do not. */
  release: string | null
  /** The build number (the commit count of the source; 1 for a squashed bundle). */
  build: number
  /** Short commit hash, as the binary reports it. */
  commit: string
  /** What follows `version:`, e.g. `0.5.0-dev (build 1, commit de3ff81)` or `4589 (abc1234)`. */
  text: string
}

// Current llama.cpp: `version: 0.5.0-dev (build 1, commit de3ff81)`.
const RELEASE_LINE = /(?:^|\s)version:\s*(\S+)\s*\(build\s+(\d+),\s*commit\s+([^)\s]+)\)/m
// Older llama.cpp: `version: 4589 (abc1234)`.
const BUILD_LINE = /(?:^|\s)version:\s*(\d+)\s*\(([^)\s]+)\)/m

/** Parses `--version` output; null when there is no `version:` line. */
export function parseLlamaVersion(output: string): LlamaVersion | null {
  const r = RELEASE_LINE.exec(output)
  if (r && r[1] !== undefined && r[2] !== undefined && r[3] !== undefined) {
    return { release: r[1], build: Number(r[2]), commit: r[3], text: `${r[1]} (build ${r[2]}, commit ${r[3]})` }
  }
  const b = BUILD_LINE.exec(output)
  if (b && b[1] !== undefined && b[2] !== undefined) {
    return { release: null, build: Number(b[1]), commit: b[2], text: `${b[1]} (${b[2]})` }
  }
  return null
}

/** Runs `<binary> --version` and parses it; doubles as a check that the binary starts at all. */
export async function readLlamaVersion(binary: string, opts: { signal?: AbortSignal } = {}): Promise<LlamaVersion> {
  const timeout = AbortSignal.timeout(15_000)
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout
  const { stdout, stderr } = await run(binary, ['--version'], { signal })
  const version = parseLlamaVersion(`${stderr}\n${stdout}`)
  if (!version) {
    throw new HerdError('internal', `${binary} --version printed no version line: ${(stderr + stdout).slice(0, 500)}`)
  }
  return version
}
