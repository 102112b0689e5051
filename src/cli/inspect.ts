/** `herd nodes`, `herd models`, `herd ps`: ask a running node over HTTP and print tables. */
import { nodeClient } from './client.ts'
import { commonFlags } from './flags.ts'
import { table } from './table.ts'

interface NodeRow {
  name: string
  id: string
  self: boolean
  status: string
  fresh: boolean
  age_ms: number
  circuit: string | null
  llama_cpp: string | null
  resources: { gpus: { freeMb: number; totalMb: number }[]; sysmem: { freeMb: number; totalMb: number } }
  models: { id: string; readyInstances: number; slotsBusy: number; slotsTotal: number; queueLength: number }[]
}

export async function inspectCommand(command: 'nodes' | 'models' | 'ps', args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = commonFlags(command, args)
  // An admin key passes every route (`herd ps` reads /admin/*); else the first API key.
  const client = await nodeClient(values)
  const get = (path: string): Promise<unknown> => client.call('GET', path)
  try {
    return await show(command, get, values, out)
  } finally {
    await client.close()
  }
}

async function show(
  command: 'nodes' | 'models' | 'ps',
  get: (path: string) => Promise<unknown>,
  values: { json?: boolean; logs?: boolean },
  out: NodeJS.WritableStream,
): Promise<number> {
  if (command === 'nodes') {
    const { nodes } = (await get('/cluster/nodes')) as { nodes: NodeRow[] }
    if (values.json) return write(out, nodes)
    out.write(
      table(
        ['NAME', 'ID', 'STATUS', 'AGE', 'CIRCUIT', 'VRAM FREE/TOTAL MB', 'RAM FREE/TOTAL MB', 'MODELS (ready/busy/slots/queue)'],
        nodes.map((n) => [
          n.self ? `${n.name} (self)` : n.name,
          n.id.slice(-12),
          n.fresh ? n.status : 'stale',
          `${(n.age_ms / 1000).toFixed(1)}s`,
          n.circuit ?? '-',
          n.resources.gpus.length ? n.resources.gpus.map((g) => `${g.freeMb}/${g.totalMb}`).join(' ') : 'cpu',
          `${n.resources.sysmem.freeMb}/${n.resources.sysmem.totalMb}`,
          n.models.map((m) => `${m.id}(${m.readyInstances}/${m.slotsBusy}/${m.slotsTotal}/${m.queueLength})`).join(' '),
        ]),
      ),
    )
    return 0
  }
  if (command === 'models') {
    const { data } = (await get('/v1/models')) as {
      data: { id: string; owned_by: string; herd: { profile: string; local: boolean; backend?: string; status?: string } }[]
    }
    if (values.json) return write(out, data)
    out.write(
      table(
        ['MODEL', 'PROFILE', 'NODE', 'WHERE', 'STATUS'],
        data.map((m) => [
          m.id,
          m.herd.profile,
          m.owned_by,
          `${m.herd.local ? 'local' : 'peer'}${m.herd.backend === undefined ? '' : ' backend'}`,
          // missing_file: the node's model_path does not exist (requests get 503 model_file_missing).
          m.herd.status ?? 'ok',
        ]),
      ),
    )
    return 0
  }
  const { instances } = (await get('/admin/instances')) as {
    instances: { id: string; profileId: string; pid?: number; port: number; state: { status: string; slots?: number }; busy: number; lastUsedAt: number }[]
  }
  if (values.json && !values.logs) return write(out, instances)
  out.write(
    table(
      ['INSTANCE', 'MODEL', 'PID', 'PORT', 'STATE', 'BUSY/SLOTS', 'IDLE'],
      instances.map((i) => [
        i.id,
        i.profileId,
        i.pid,
        i.port,
        i.state.status,
        `${i.busy}/${i.state.slots ?? '-'}`,
        `${Math.round((Date.now() - i.lastUsedAt) / 1000)}s`,
      ]),
    ),
  )
  if (values.logs) {
    const { logs } = (await get('/admin/logs')) as { logs: { instanceId: string; lines: string[] }[] }
    for (const l of logs) out.write(`\n== ${l.instanceId} ==\n${l.lines.join('\n')}\n`)
  }
  return 0
}

function write(out: NodeJS.WritableStream, value: unknown): number {
  out.write(JSON.stringify(value, null, 2) + '\n')
  return 0
}
