import { mkdtemp, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import v8 from 'node:v8'
import pino from 'pino'
import { stringify } from 'yaml'
import { fakeLlamaServer } from './lib/daemon-child.ts'
const { Daemon } = await import('../src/daemon.ts')
const { generateSwarmKey } = await import('../src/mesh/index.ts')
const dir = await mkdtemp(join(tmpdir(), 'mem-'))
const secret = join(dir, 'k')
await writeFile(secret, generateSwarmKey(), { mode: 0o600 })
await writeFile(join(dir, 'cookbook.yaml'), stringify({ models: [] }))
await writeFile(
  join(dir, 'config.yaml'),
  stringify({
    node: { name: 'x' },
    http: { listen: '127.0.0.1:0' },
    mesh: { enabled: true, mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'], secret_file: secret },
    llama: { server: await fakeLlamaServer(dir) },
    resources: { nvidia_smi: join(dir, 'none') },
    cookbook: 'cookbook.yaml',
    log_level: 'silent',
  }),
)
const d = await Daemon.create({ configFile: join(dir, 'config.yaml'), env: { ...process.env, HERD_HOME: dir }, logger: pino({ level: 'silent' }) })
await d.start()
await new Promise((r) => setTimeout(r, 2000))
const mb = (n: number) => (n / 1048576).toFixed(1)
const mu = process.memoryUsage()
console.log('rss', mb(mu.rss), 'heapTotal', mb(mu.heapTotal), 'heapUsed', mb(mu.heapUsed), 'external', mb(mu.external), 'ab', mb(mu.arrayBuffers))
for (const s of v8.getHeapSpaceStatistics()) console.log(s.space_name, mb(s.space_size), mb(s.space_used_size))
console.log(
  readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .filter((l) => /Rss/.test(l))
    .join(' '),
)
if (process.env.SNAP) v8.writeHeapSnapshot(process.env.SNAP)
await d.stop({ graceMs: 0 })
