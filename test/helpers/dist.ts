/**
 * vitest global setup: rebuild dist/ (the bundle bin/herd runs, scripts/build.ts) when the
 * source is newer, so the tests that spawn bin/herd exercise what ships, and never a
 * bundle older than the code under test. A no-op (one walk of the inputs' mtimes) when fresh.
 */
import { buildIfStale } from '../../scripts/build.ts'

export default async function setup(): Promise<void> {
  if (await buildIfStale()) process.stderr.write('test setup: rebuilt dist/ (it was older than the source)\n')
}
