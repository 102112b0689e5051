/** herd's own version, from package.json (read once). */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { HERD_ROOT } from './paths.ts'

export const HERD_VERSION: string = (JSON.parse(readFileSync(join(HERD_ROOT, 'package.json'), 'utf8')) as { version: string }).version
