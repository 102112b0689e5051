/** Small file checks shared by the llama module. */
import { access, constants, stat } from 'node:fs/promises'

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

export async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK)
    return (await stat(path)).isFile()
  } catch (err: unknown) {
    // Missing, not ours to run, or a path through a file: all mean "not a usable binary".
    if (['ENOENT', 'EACCES', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return false
    throw err
  }
}
