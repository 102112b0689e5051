/**
 * herd's own folder (where package.json, cookbook/ and src/ are), for the files it reads at
 * run time. Found from this module's URL one level up, which holds both where it runs from:
 * src/paths.ts, and the bundle (`npm run build`), whose every file sits directly in dist/
 * (scripts/build.ts keeps it flat for this reason). A path relative to some deeper module's
 * own URL would point outside the project once that module is bundled.
 */
import { fileURLToPath } from 'node:url'

export const HERD_ROOT: string = fileURLToPath(new URL('..', import.meta.url))
