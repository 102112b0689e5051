/**
 * The measuring loop the proxy and backends benches share: every scenario (streaming or
 * not, × each concurrency) runs against every target in short closed-loop segments, round
 * after round, with the targets in rotating order so none always runs right after another;
 * a warm-up pass first is discarded. CPU is each serving process's own utime + stime.
 */
import type { Agent } from 'undici'
import type { BenchChild } from './child.ts'
import { runLoad, type LoadResult } from './load.ts'
import type { ScenarioResult, TargetName } from './report.ts'
import { summarize } from './stats.ts'

export interface BenchTarget {
  child: BenchChild
  /** One pool per target, big enough for the highest concurrency, kept warm across segments. */
  agent: Agent
  /** The `authorization` of each request (a rotating tenant key). Absent: none. */
  authorization?: () => string
}

export interface InterleavedInit<N extends TargetName> {
  /** For the progress lines on stderr. */
  label: string
  names: readonly N[]
  targets: ReadonlyMap<N, BenchTarget>
  path: string
  /** The request body for a target (targets may name the model differently). */
  body: (name: N, stream: boolean) => string
  levels: readonly number[]
  rounds: number
  durationMs: number
  /** SSE events each streamed answer should carry. */
  events: number
  /** After the warm-up, before the measured rounds (a CPU profile starts here). */
  beforeRounds?: () => Promise<void>
}

export async function runInterleaved<N extends TargetName>(o: InterleavedInit<N>): Promise<ScenarioResult[]> {
  const connections = Math.max(...o.levels)
  const segment = async (name: N, stream: boolean, concurrency: number, ms: number): Promise<{ load: LoadResult; cpuUs: number }> => {
    const { child, agent, authorization } = o.targets.get(name)!
    const before = await child.cpuUs()
    const load = await runLoad({
      dispatcher: agent,
      origin: child.url,
      path: o.path,
      body: o.body(name, stream),
      stream,
      concurrency,
      durationMs: ms,
      expectEvents: o.events,
      ...(authorization === undefined ? {} : { authorization }),
    })
    return { load, cpuUs: (await child.cpuUs()) - before }
  }

  // Warm-up (JIT, connections, pools), discarded.
  for (const stream of [false, true]) for (const name of o.names) await segment(name, stream, connections, 500)

  const scenarios = [false, true].flatMap((stream) => o.levels.map((concurrency) => ({ stream, concurrency })))
  const acc = new Map(scenarios.map((s) => [s, new Map(o.names.map((n) => [n, { loads: [] as LoadResult[], cpuUs: 0 }]))]))
  process.stderr.write(
    `${o.label}: ${scenarios.length} scenarios x ${o.names.length} targets x ${o.rounds} rounds x ${o.durationMs} ms ≈ ${Math.round((scenarios.length * o.names.length * o.rounds * o.durationMs) / 1000)} s\n`,
  )
  await o.beforeRounds?.()
  for (let r = 0; r < o.rounds; r++) {
    const order = o.names.map((_, i) => o.names[(i + r) % o.names.length]!)
    for (const s of scenarios) {
      for (const name of order) {
        const { load, cpuUs } = await segment(name, s.stream, s.concurrency, o.durationMs)
        const a = acc.get(s)!.get(name)!
        a.loads.push(load)
        a.cpuUs += cpuUs
      }
    }
    process.stderr.write(`  round ${r + 1}/${o.rounds} done\n`)
  }
  return scenarios.map((s) => {
    const runs: Partial<ScenarioResult['runs']> = {}
    const cpuUsPerReq: ScenarioResult['cpuUsPerReq'] = {}
    for (const [name, a] of acc.get(s)!) {
      const summary = summarize(a.loads)
      runs[name] = summary
      cpuUsPerReq[name] = a.cpuUs / summary.requests
    }
    return { ...s, runs: runs as ScenarioResult['runs'], cpuUsPerReq }
  })
}
