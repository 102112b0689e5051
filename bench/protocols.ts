/**
 * node bench/protocols.ts — what converting a streamed answer between OpenAI and Anthropic
 * costs per upstream event (µs), both directions, in-process (bench/lib/protocols-streams.ts):
 * upstream bytes arriving one event per chunk (as backends write them), and cut every 64
 * bytes (events split across chunks, the decoder's worst ordinary case).
 *
 *   node bench/protocols.ts [--events 256] [--duration-ms 1000] [--out FILE]
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { benchConvertStream, type Direction, type StreamBenchResult } from './lib/protocols-streams.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    events: { type: 'string', default: '256' },
    'duration-ms': { type: 'string', default: '1000' },
    out: { type: 'string', default: join(here, 'results', 'protocols.md') },
  },
})
const events = Number(opt.events)
const durationMs = Number(opt['duration-ms'])

const rows: (StreamBenchResult & { chunking: string })[] = []
for (const direction of ['anthropic-to-openai', 'openai-to-anthropic'] as Direction[]) {
  for (const [chunking, chunkBytes] of [
    ['one event per chunk', 0],
    ['cut every 64 bytes', 64],
  ] as const) {
    const r = benchConvertStream(direction, { events, durationMs, chunkBytes })
    rows.push({ ...r, chunking })
    process.stderr.write(`bench:protocols: ${direction}, ${chunking}: ${r.usPerEvent.toFixed(2)} µs/event\n`)
  }
}

const cpu = cpus()[0]?.model ?? 'unknown CPU'
const report = [
  '# Protocol conversion: cost per streamed event',
  '',
  `${new Date().toISOString()}, Node ${process.version}, ${cpu} ×${cpus().length}, load average ${loadavg()[0]?.toFixed(1)} at the end. One stream = ${rows[0]?.eventsPerStream} upstream events (${events} content deltas: ¾ text, ¼ tool-call arguments, plus framing); ${durationMs} ms per row after a warm-up.`,
  '',
  '| direction | upstream chunking | µs per event | events/s | output bytes / input byte |',
  '| --- | --- | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.direction} | ${r.chunking} | ${r.usPerEvent.toFixed(2)} | ${Math.round(r.eventsPerSec).toLocaleString('en-US')} | ${r.outputRatio.toFixed(2)} |`,
  ),
  '',
]
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, report.join('\n'))
process.stdout.write(report.join('\n'))
