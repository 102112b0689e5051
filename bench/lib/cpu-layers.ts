/**
 * A V8 CPU profile's self time by layer of the stack (socket writes, crypto, libp2p,
 * herd's mesh code, HTTP server and client, …): what a forwarded request pays for, in
 * terms one can act on. Built from the owners cpuprofile.ts reports.
 */
import { readFile } from 'node:fs/promises'
import { ownerOf } from './cpuprofile.ts'

export const LAYERS = [
  'socket writes (the syscall, loopback TCP included)',
  'crypto: Noise ChaCha20-Poly1305, pnet XSalsa20 (WebAssembly + JS)',
  'libp2p: yamux, stream plumbing, byte lists',
  'herd src/mesh (forward protocol, gossip)',
  'HTTP server (fastify, node:http)',
  'HTTP client (undici)',
  'herd api, router, instances, hardware, …',
  'node streams, events, timers, promises',
  'zod',
  'garbage collector',
  'profiler itself (node:inspector)',
  'other',
] as const
export type Layer = (typeof LAYERS)[number]

export function layerOf(owner: string, functionName: string): Layer {
  if (owner === '(native)') return /^write/.test(functionName) ? LAYERS[0] : LAYERS[7]
  if (/^(@chainsafe\/(libp2p-noise|as-chacha20poly1305)|xsalsa20|@noble\/|wasm:\/\/)/.test(owner)) return LAYERS[1]
  if (/^(@libp2p\/|libp2p$|uint8arraylist|uint8arrays|it-|main-event|multiformats|p-queue|p-event|race-signal|@multiformats\/)/.test(owner)) return LAYERS[2]
  if (owner === 'herd src/mesh') return LAYERS[3]
  if (/^(fastify|find-my-way|avvio|@fastify\/|light-my-request|fast-json-stringify|toad-cache|node:_http_|node:http$)/.test(owner)) return LAYERS[4]
  if (owner === 'undici') return LAYERS[5]
  if (owner.startsWith('herd ') || /\/src\/daemon\.ts$/.test(owner)) return LAYERS[6]
  if (
    /^node:(internal\/(streams|event_target|process|abort_controller|timers|async_hooks|stream_base_commons|buffer)|events|timers|stream|net|buffer)/.test(
      owner,
    )
  )
    return LAYERS[7]
  if (owner === '(program)') return LAYERS[7]
  if (owner === 'zod') return LAYERS[8]
  if (owner === '(garbage collector)') return LAYERS[9]
  if (owner === 'node:inspector') return LAYERS[10]
  return LAYERS[11]
}

interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string } }[]
  samples: number[]
  timeDeltas: number[]
}

/** Self time (ms) per layer, idle left out. */
export async function layerTimes(file: string): Promise<Map<Layer, number>> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const out = new Map<Layer, number>(LAYERS.map((l) => [l, 0]))
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)
    if (!node || node.callFrame.functionName === '(idle)') return
    const layer = layerOf(ownerOf(node.callFrame.url, node.callFrame.functionName), node.callFrame.functionName)
    out.set(layer, (out.get(layer) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
  })
  return out
}
