/**
 * npm run bench:placement — where herd puts requests on a heterogeneous cluster, against
 * round-robin, in a discrete-event simulation (virtual clock, seeded: same seed, same file).
 *
 * Four simulated nodes (80 GB GPU, 24 GB GPU, 2×16 GB GPUs, CPU-only 64 GB) run the daemon's
 * per-node rules (pool queueing and spawning, idle stop, admission over the real planFit).
 * herd routes with the real src/router score()/rank() over ModelStates built by the real
 * src/router/local-state.ts, peers' states as last gossiped, plus the real PendingCounter.
 * Round-robin sends each request to the next node whose cookbook lists the model.
 * Experiments (bench/lib/placement-experiment.ts) are scratch variants, not herd's code.
 *
 *   npm run bench:placement -- [--seed 42] [--duration-s 1800] [--rate 2] [--burst-rate 4]
 *     [--gossip-ms 1000] [--idle-s 300] [--sweep 1,2,3,4,5] [--skip-experiments] [--out FILE]
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ETA_LOADED, ETA_VRAM_FIRST, VRAM_FIRST } from './lib/placement-experiment.ts'
import { HERD_SCORING, herdPolicy, roundRobinPolicy, type Policy, type Scoring } from './lib/placement-policy.ts'
import { experimentTable, resultTable, scenarioSection, sweepTable, targets } from './lib/placement-report.ts'
import { generate, MODELS, NODES, type Knobs, type Workload } from './lib/placement-scenario.ts'
import { simulate, type Gossip, type RunResult } from './lib/placement-sim.ts'
import type { NodeOptions } from './lib/placement-node.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    seed: { type: 'string', default: '42' },
    'duration-s': { type: 'string', default: '1800' },
    rate: { type: 'string', default: '2' },
    'burst-rate': { type: 'string', default: '4' },
    'gossip-ms': { type: 'string', default: '1000' },
    'idle-s': { type: 'string', default: '300' },
    sweep: { type: 'string', default: '1,2,3,4,5' },
    'skip-experiments': { type: 'boolean', default: false },
    out: { type: 'string', default: join(here, 'results', 'placement.md') },
  },
})
const log = (line: string): void => void process.stderr.write(`bench:placement: ${line}\n`)
const wallStart = performance.now()

const workload = (seed: number): Workload => ({
  seed,
  durationMs: Number(opt['duration-s']) * 1000,
  baseRate: Number(opt.rate),
  zipfS: 1,
  burstRate: Number(opt['burst-rate']),
  burstMs: 20_000,
  burstGapMs: 90_000,
  meanTokens: 250,
})
const knobs: Knobs = { queueCap: 16, idleTimeoutMs: Number(opt['idle-s']) * 1000, maxWaitInQueueMs: 60_000 }
const gossipMs = Number(opt['gossip-ms'])
const heartbeat: Gossip = { intervalMs: gossipMs, pushDebounceMs: undefined }
const push: Gossip = { intervalMs: gossipMs, pushDebounceMs: 50 }

function run(seed: number, policy: Policy, gossip: Gossip = heartbeat, node?: NodeOptions): RunResult {
  const t0 = performance.now()
  const r = simulate({ nodes: NODES, requests: generate(workload(seed), NODES.length), knobs, gossip, policy, ...(node ? { node } : {}) })
  log(`seed ${seed} ${policy.name}: p99 ${(r.p99 / 1000).toFixed(1)} s, ${r.evictions} evictions (${Math.round(performance.now() - t0)} ms)`)
  return r
}

const seed = Number(opt.seed)
const herd = (name: string, scoring: Scoring = HERD_SCORING): Policy => herdPolicy(name, scoring)
const main = {
  herd: run(seed, herd('herd (heartbeat only)')),
  push: run(seed, herd('herd (push on change + heartbeat)'), push),
  rr: run(seed, roundRobinPolicy()),
}
const check = targets([main.herd, main.push], main.rr)

const sections = [
  '# bench:placement — herd vs round-robin on a simulated heterogeneous cluster',
  '',
  scenarioSection(workload(seed), knobs, NODES, MODELS, main.herd.requests, gossipMs),
  '',
  '"herd (heartbeat only)" sees peers as of their last heartbeat (up to one interval stale, corrected only by the',
  'PendingCounter); "push on change" also gets a state 50 ms after any load change, as src/mesh/gossip.ts does.',
  'Round-robin makes one attempt; herd retries the next candidate on a refusal before the first byte, as Router.route does.',
  'Latency is arrival to last token of completed requests; failed ones are counted, not timed.',
  '',
  '## Results',
  '',
  resultTable([main.herd, main.push, main.rr], NODES),
  '',
  '## Targets',
  '',
  check.md,
  '',
]

if (!opt['skip-experiments']) {
  const rrOwn = run(seed, { ...roundRobinPolicy(), name: 'round-robin + EXP own-not-evictable' }, heartbeat, { ownInstancesNotEvictable: true })
  sections.push(
    "## Experiments (scratch copies in bench/lib/placement-experiment.ts, not herd's code)",
    '',
    'Same requests as above, heartbeat-only gossip; change shown against "herd (heartbeat only)" (last row: against round-robin).',
    '',
    experimentTable(main.herd, [
      {
        result: run(seed, herd('EXP vram-first', VRAM_FIRST)),
        change: "router.ts freeMemory() (and the local free memory) = free VRAM only, so a CPU node's RAM stops outbidding GPUs for tier-2 cold starts",
      },
      {
        result: run(seed, herd('EXP eta-loaded', ETA_LOADED)),
        change: 'scoring.ts: loaded candidates (tiers 0+1) ranked together by (ahead per slot + 1) × 100 / learned tokens/s',
      },
      { result: run(seed, herd('EXP eta-loaded + vram-first', ETA_VRAM_FIRST)), change: 'both of the above' },
    ]),
    '',
    experimentTable(main.rr, [
      {
        result: rrOwn,
        change:
          "planner.ts: plan a cold start with its own profile's instances not evictable (admission never evicts them, so planFit named them and other instances were evicted for nothing)",
      },
    ]),
    '',
  )
}

const sweep = opt.sweep
  .split(',')
  .filter((x) => x.trim() !== '')
  .map(Number)
if (sweep.length > 0) {
  const byPolicy = new Map<string, RunResult[]>([
    ['herd (heartbeat only)', []],
    ...(opt['skip-experiments'] ? [] : [['EXP eta-loaded + vram-first', []] as [string, RunResult[]]]),
    ['round-robin', []],
  ])
  for (const sd of sweep) {
    byPolicy.get('herd (heartbeat only)')?.push(run(sd, herd('herd (heartbeat only)')))
    if (!opt['skip-experiments']) byPolicy.get('EXP eta-loaded + vram-first')?.push(run(sd, herd('EXP eta-loaded + vram-first', ETA_VRAM_FIRST)))
    byPolicy.get('round-robin')?.push(run(sd, roundRobinPolicy()))
  }
  sections.push('## Other seeds', '', sweepTable(sweep, byPolicy, byPolicy.get('round-robin') ?? []), '')
}

const md = sections.join('\n')
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, md)
process.stdout.write(`${md}\n`)
log(`targets ${check.met ? 'met' : 'missed'}; wrote ${opt.out} in ${((performance.now() - wallStart) / 1000).toFixed(1)} s`)
