import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { run } from '../../src/llama/exec.ts'
import { tempDir } from './fakes.ts'

let dir: string

beforeEach(async () => {
  dir = await tempDir()
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Running, as opposed to gone or a zombie waiting for init to reap it (which can take a while). */
async function alive(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/stat`, 'utf8')).split(' ')[2] !== 'Z'
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

async function waitFor(cond: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('run', () => {
  it('streams each output line and resolves with the output on exit 0', async () => {
    const lines: string[] = []
    const result = await run('sh', ['-c', 'echo one; echo two >&2; printf three'], { onLine: (l) => lines.push(l) })
    expect(lines.sort()).toEqual(['one', 'two'])
    expect(result.stdout).toBe('one\nthree')
  })

  it('rejects with the tail of the output when the command fails', async () => {
    await expect(run('sh', ['-c', 'echo compiler says no >&2; exit 3'])).rejects.toThrow(/exited with code 3\ncompiler says no/)
  })

  it('kills the whole process group on abort, grandchildren included', async () => {
    const pidFile = join(dir, 'pid')
    const controller = new AbortController()
    const running = run('sh', ['-c', `sleep 30 & echo $! > ${pidFile}; wait`], { signal: controller.signal })
    let grandchild = 0
    await waitFor(async () => {
      grandchild = Number(await readFile(pidFile, 'utf8').catch(() => '0'))
      return grandchild > 0
    })
    expect(await alive(grandchild)).toBe(true)
    controller.abort()
    await expect(running).rejects.toThrow()
    await waitFor(async () => !(await alive(grandchild)))
  })
})
