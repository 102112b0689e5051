/**
 * `herd usage [--by key|model|node|day] [--since 7d] [--json|--csv]`: tokens and spend from a
 * running node's usage ledger (`GET /admin/usage`, an admin key), as a table.
 */
import { parseDuration } from '../tenants/index.ts'
import { nodeClient } from './client.ts'
import { table } from './table.ts'
import { parseCommandArgs, UsageError } from './usage.ts'

const FLAGS = {
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  csv: { type: 'boolean' },
  by: { type: 'string' },
  since: { type: 'string' },
} as const

const GROUPS = ['key', 'model', 'node', 'day', 'hour']

interface UsageAnswer {
  from: string
  to: string
  group_by: string[]
  currency: string
  rows: { requests: number; prompt_tokens: number; completion_tokens: number; cost: number; cache_hits: number; [group: string]: unknown }[]
}

/** `--by key,model` (or given twice as a list) as the query's groups; default: by key. */
export function groupsOf(by: string | undefined): string[] {
  const groups = (by ?? 'key')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  for (const g of groups) if (!GROUPS.includes(g)) throw new UsageError('usage', `--by takes ${GROUPS.join(', ')} (comma-separated), not '${g}'`)
  return groups
}

export async function usageCommand(args: string[], out: NodeJS.WritableStream, now: () => number = Date.now): Promise<number> {
  const { values } = parseCommandArgs('usage', args, FLAGS)
  if (values.json && values.csv) throw new UsageError('usage', '--json and --csv: pick one')
  const groups = groupsOf(values.by)
  let sinceMs: number
  try {
    sinceMs = parseDuration(values.since ?? '7d')
  } catch (err: unknown) {
    throw new UsageError('usage', `--since: ${err instanceof Error ? err.message : String(err)}`)
  }
  const from = now() - sinceMs
  const client = await nodeClient(values)
  try {
    const answer = (await client.call('GET', `/admin/usage?from=${from}&group_by=${groups.join(',')}`)) as UsageAnswer
    if (values.json) {
      out.write(JSON.stringify(answer, null, 2) + '\n')
      return 0
    }
    const headers = [...groups.map((g) => g.toUpperCase()), 'REQUESTS', 'PROMPT', 'COMPLETION', 'CACHE HITS', `SPEND (${answer.currency})`]
    const rows = answer.rows.map((r) => [
      ...groups.map((g) => String(r[g] ?? '')),
      r.requests,
      r.prompt_tokens,
      r.completion_tokens,
      r.cache_hits,
      values.csv ? String(r.cost) : r.cost.toFixed(4),
    ])
    if (values.csv) {
      out.write([headers, ...rows].map((r) => r.map((c) => csvCell(String(c))).join(',')).join('\n') + '\n')
      return 0
    }
    out.write(`usage from ${answer.from} to ${answer.to} on ${client.base}\n\n`)
    out.write(rows.length === 0 ? 'no usage in that span\n' : table(headers, rows))
    return 0
  } finally {
    await client.close()
  }
}

function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}
