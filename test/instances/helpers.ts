/**
 * A supervisor under test: a temp dir with a fake llama-server and a model file, a manager
 * wired to them, a record of every pid it spawned, and a teardown that stops it all and
 * proves no process was left behind.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { expect } from 'vitest'
import type { ProfileSpec } from '../../src/config/types.ts'
import { InstanceManager, type InstanceEvents, type InstanceManagerInit } from '../../src/instances/index.ts'
import { alive } from '../../src/instances/pidfile.ts'
import { makeFakeLlamaBinary, makeFakeModel, type FakeLlamaEnv } from '../fixtures/fake-llama.ts'

export const logger = pino({ level: process.env['HERD_TEST_LOG'] ?? 'silent' })

/** A profile with test-sized defaults; override what the test is about. */
export function profile(over: Partial<ProfileSpec> & { modelPath: string | undefined }): ProfileSpec {
  const args = over.args ?? ['-np', '1']
  return {
    id: 'tiny:default',
    model: 'tiny',
    profile: 'default',
    description: undefined,
    capabilities: { completion: true, embeddings: false, rerank: false },
    idleTimeoutMs: 60_000,
    startupTimeoutMs: 10_000,
    maxInstances: 1,
    maxQueueSize: 8,
    maxWaitInQueueMs: 10_000,
    estimatedVramMb: undefined,
    estimatedSysmemMb: undefined,
    launchHash: `${over.modelPath ?? ''}|${args.join(' ')}`,
    ...over,
    args,
  }
}

export interface Harness {
  dir: string
  binary: string
  model: string
  manager: InstanceManager
  /** Every pid the manager started. */
  pids: number[]
  profile(over?: Partial<ProfileSpec>): ProfileSpec
  /** Stop the manager, check that no process it started is still alive, remove the dir. */
  close(): Promise<void>
}

export async function harness(o: { env?: FakeLlamaEnv; init?: InstanceManagerInit; start?: boolean; dir?: string } = {}): Promise<Harness> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'herd-instances-')))
  const binary = await makeFakeLlamaBinary(dir, o.env ?? {})
  const model = await makeFakeModel(dir)
  const pids: number[] = []
  const manager = new InstanceManager(
    { logger, binary: () => binary, runtimeDir: join(dir, 'run'), onProcessStarted: (p) => pids.push(p.pid) },
    { killGraceMs: 1_000, healthIntervalMs: 10, ...o.init },
  )
  if (o.start !== false) await manager.start()
  return {
    dir,
    binary,
    model,
    manager,
    pids,
    profile: (over = {}) => profile({ modelPath: model, ...over }),
    async close() {
      await manager.stop()
      expect(pids.filter(alive), 'processes left behind').toEqual([])
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Poll `cond` until it holds; fail after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(5)
  }
}

/** The next event of this kind (matching `pred`), or a failure after `timeoutMs`. */
export function nextEvent<K extends keyof InstanceEvents>(
  m: InstanceManager,
  event: K,
  pred: (e: InstanceEvents[K]) => boolean = () => true,
  timeoutMs = 5_000,
): Promise<InstanceEvents[K]> {
  return new Promise((resolve, reject) => {
    const on = m.on.bind(m) as (e: K, f: (p: InstanceEvents[K]) => void) => void
    const off = m.off.bind(m) as (e: K, f: (p: InstanceEvents[K]) => void) => void
    const timer = setTimeout(() => {
      off(event, listener)
      reject(new Error(`no ${event} within ${timeoutMs} ms`))
    }, timeoutMs)
    const listener = (e: InstanceEvents[K]): void => {
      if (!pred(e)) return
      clearTimeout(timer)
      off(event, listener)
      resolve(e)
    }
    on(event, listener)
  })
}

/** The rejection of `p` (fails the test if it resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err: unknown) {
    return err
  }
  throw new Error('expected a rejection')
}

export function signal(): AbortSignal {
  return new AbortController().signal
}
