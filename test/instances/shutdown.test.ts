import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { InstanceManager } from '../../src/instances/index.ts'
import { alive } from '../../src/instances/pidfile.ts'
import { NODE_22 } from '../fixtures/fake-llama.ts'
import { harness, logger, nextEvent, rejectionOf, signal, waitFor, type Harness } from './helpers.ts'

describe('InstanceManager shutdown', () => {
  let h: Harness
  const extra: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const undo of extra.splice(0)) await undo()
    await h.close()
  })

  it('SIGKILLs a child that ignores SIGTERM after the grace, and removes the pid file', async () => {
    h = await harness({ env: { FAKE_IGNORE_SIGTERM: 1 }, init: { killGraceMs: 200 } })
    const lease = await h.manager.acquire(h.profile(), { signal: signal() })
    const pidFile = join(h.dir, 'run', 'instances.json')
    await waitFor(() => existsSync(pidFile), 2_000, 'the pid file')
    const queued = rejectionOf(h.manager.acquire(h.profile(), { signal: signal() }))
    const exited = nextEvent(h.manager, 'instance:exited')
    const started = Date.now()
    await h.manager.stop()
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    expect(await queued).toMatchObject({ code: 'draining' })
    expect(await exited).toMatchObject({ signal: 'SIGKILL', expected: true })
    expect(lease.exited.aborted).toBe(true)
    expect(h.pids.filter(alive)).toEqual([])
    expect(existsSync(pidFile)).toBe(false)
    await h.manager.stop()
  })

  it('kills an instance that is still starting when stopped, and refuses its waiters with draining', async () => {
    h = await harness({ env: { FAKE_START_DELAY_MS: 10_000 } })
    const waiting = rejectionOf(h.manager.acquire(h.profile(), { signal: signal() }))
    await waitFor(() => h.pids.length === 1, 5_000, 'the spawn')
    await h.manager.stop()
    expect(await waiting).toMatchObject({ code: 'draining' })
    expect(h.pids.filter(alive)).toEqual([])
    expect(h.manager.snapshot()).toEqual([])
  })

  it('drains: refuses new requests, waits for in-flight leases, then stops', async () => {
    h = await harness()
    const p = h.profile()
    const lease = await h.manager.acquire(p, { signal: signal() })
    const drained = h.manager.drain({ graceMs: 5_000, signal: signal() })
    expect(await rejectionOf(h.manager.acquire(p, { signal: signal() }))).toMatchObject({ code: 'draining' })
    expect(h.manager.snapshot()[0]?.state.status).toBe('ready')
    lease.release()
    await drained
    expect(h.manager.status).toBe('stopped')
    expect(h.pids.filter(alive)).toEqual([])
  })

  it('stops after the drain grace even when a lease is never released', async () => {
    h = await harness()
    const lease = await h.manager.acquire(h.profile(), { signal: signal() })
    const started = Date.now()
    await h.manager.drain({ graceMs: 150, signal: signal() })
    expect(Date.now() - started).toBeGreaterThanOrEqual(140)
    expect(lease.exited.aborted).toBe(true)
  })

  it('reaps a llama-server recorded in the pid file by a daemon that died', async () => {
    h = await harness()
    await h.manager.acquire(h.profile(), { signal: signal() }).then((l) => l.release())
    const pid = h.manager.snapshot()[0]?.pid ?? 0
    const pidFile = join(h.dir, 'run', 'instances.json')
    await waitFor(async () => existsSync(pidFile) && (await readFile(pidFile, 'utf8')).includes('"cmdline"'), 2_000, 'the pid file with cmdline')
    // A second daemon on the same runtime dir stands for the restarted one.
    const exited = nextEvent(h.manager, 'instance:exited')
    const next = new InstanceManager({ logger, binary: () => h.binary, runtimeDir: join(h.dir, 'run') }, {})
    await next.start()
    expect(alive(pid)).toBe(false)
    expect(await exited).toMatchObject({ expected: false, signal: 'SIGKILL' })
    await next.stop()
  })

  it('leaves a live process alone when its command line is not the recorded binary', async () => {
    h = await harness()
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' })
    extra.push(() => void sleeper.kill('SIGKILL'))
    const pid = sleeper.pid ?? 0
    await mkdir(join(h.dir, 'run2'), { recursive: true })
    await writeFile(
      join(h.dir, 'run2', 'instances.json'),
      JSON.stringify({ daemonPid: 1, instances: [{ pid, instanceId: 'x#1', profileId: 'x', binary: h.binary, startedAt: 0 }] }),
    )
    const next = new InstanceManager({ logger, binary: () => h.binary, runtimeDir: join(h.dir, 'run2') }, {})
    await next.start()
    expect(alive(pid)).toBe(true)
    await next.stop()
  })

  it('lets the kernel kill the servers when the daemon process is SIGKILLed (pdeathsig)', async () => {
    h = await harness()
    const script = join(h.dir, 'daemon.ts')
    const managerUrl = new URL('../../src/instances/index.ts', import.meta.url).href
    await writeFile(
      script,
      `import { pino } from ${JSON.stringify(import.meta.resolve('pino'))}
import { InstanceManager } from ${JSON.stringify(managerUrl)}
const m = new InstanceManager({ logger: pino({ level: 'silent' }), binary: () => ${JSON.stringify(h.binary)}, runtimeDir: ${JSON.stringify(join(h.dir, 'run3'))} }, { healthIntervalMs: 10 })
await m.start()
const p = { id: 'd:default', model: 'd', profile: 'default', description: undefined, modelPath: ${JSON.stringify(h.model)}, args: ['-np', '1'], capabilities: { completion: true, embeddings: false, rerank: false }, idleTimeoutMs: 60000, startupTimeoutMs: 10000, maxInstances: 1, maxQueueSize: 1, maxWaitInQueueMs: 1000, estimatedVramMb: undefined, estimatedSysmemMb: undefined, launchHash: 'x' }
await m.acquire(p, { signal: new AbortController().signal })
process.stdout.write(String(m.snapshot()[0]?.pid) + '\\n')
setInterval(() => {}, 1000)
`,
    )
    const daemon = spawn(NODE_22, ['--disable-warning=ExperimentalWarning', script], {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    extra.push(() => void daemon.kill('SIGKILL'))
    const childPid = await new Promise<number>((resolve, reject) => {
      daemon.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim())))
      daemon.once('exit', (code) => reject(new Error(`daemon exited ${String(code)}`)))
    })
    expect(alive(childPid)).toBe(true)
    daemon.kill('SIGKILL')
    await waitFor(() => !alive(childPid), 3_000, 'the orphaned llama-server to die')
  })
})
