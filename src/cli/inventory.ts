/** `herd inventory`: GET /cluster/inventory from a running node, as two tables (models, backend models) or JSON. */
import type { ClusterInventory, InventoryModelView, MemoryView } from '../inventory/index.ts'
import { nodeClient } from './client.ts'
import { table } from './table.ts'
import { parseCommandArgs } from './usage.ts'

export async function inventoryCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseCommandArgs('inventory', args, {
    config: { type: 'string', short: 'c' },
    url: { type: 'string' },
    key: { type: 'string' },
    json: { type: 'boolean' },
  })
  const client = await nodeClient(values)
  try {
    const inventory = (await client.call('GET', '/cluster/inventory')) as ClusterInventory
    out.write(values.json ? JSON.stringify(inventory, null, 2) + '\n' : render(inventory))
    return 0
  } finally {
    await client.close()
  }
}

/** The two tables `herd inventory` prints. */
export function render(inv: ClusterInventory): string {
  const models = table(
    ['MODEL', 'ARCH', 'PARAMS', 'QUANT', 'CTX', 'SIZE', 'FILE ON', 'SERVING', 'ESTIMATE MB', 'LEARNED MB'],
    inv.models.map((m) => [
      m.id,
      m.architecture,
      m.parameters === null ? null : count(m.parameters),
      m.quantization,
      m.context_length,
      m.size_bytes === null ? null : bytes(m.size_bytes),
      m.nodes_with_file.join(',') || '-',
      m.nodes_serving.join(',') || '-',
      memory(m, 'estimate'),
      memory(m, 'learned'),
    ]),
  )
  if (inv.backends.length === 0) return models
  const backends = table(
    ['BACKEND MODEL', 'PROTOCOL', 'EGRESS', 'NODES (health, in use/max)'],
    inv.backends.map((b) => [
      b.id,
      b.protocol,
      b.egress ? 'yes' : 'no',
      b.nodes.map((n) => `${n.node}(${n.health}, ${n.in_use}/${n.max_concurrency})`).join(' '),
    ]),
  )
  return `${models}\n${backends}`
}

/** `vram+sysmem` per node that has a figure, `node:figure` when nodes differ. */
function memory(m: InventoryModelView, which: 'estimate' | 'learned'): string {
  const shown = m.nodes.flatMap((n) => {
    const v: MemoryView | null = n[which]
    return v === null ? [] : [{ node: n.node, text: v.vram_mb ? `${v.vram_mb}+${v.sysmem_mb ?? 0}` : String(v.sysmem_mb ?? 0) }]
  })
  if (shown.length === 0) return '-'
  if (shown.every((s) => s.text === shown[0]?.text)) return shown[0]?.text ?? '-'
  return shown.map((s) => `${s.node}:${s.text}`).join(' ')
}

function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`
  return String(n)
}

function bytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  return `${Math.ceil(n / 1024)} KiB`
}
