/**
 * `herd init`: write HERD_HOME/config.yaml with the mesh on and a fresh cluster secret;
 * `herd init --join <secret-or-file>` on the other machines uses the same secret. Only
 * nodes holding that secret can connect at all.
 */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateSwarmKey, parseSwarmKey } from '../mesh/index.ts'
import { parseCommandArgs } from './usage.ts'

export async function initCommand(args: string[], out: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommandArgs('init', args, { join: { type: 'string' }, force: { type: 'boolean' }, name: { type: 'string' } })
  const home = resolve((env['HERD_HOME'] ?? join(homedir(), '.herd')).replace(/^~(?=$|\/)/, homedir()))
  const configFile = join(home, 'config.yaml')
  const secretFile = join(home, 'cluster.key')
  if (!values.force && (await exists(configFile))) {
    out.write(`${configFile} already exists; use --force to overwrite it\n`)
    return 1
  }
  const secret = values.join === undefined ? generateSwarmKey() : await joinSecret(values.join)
  await mkdir(home, { recursive: true })
  await writeFile(secretFile, secret, { mode: 0o600 })
  await chmod(secretFile, 0o600)
  const lines = [
    '# herd node config (see SPEC.md for every key)',
    ...(values.name ? ['node:', `  name: ${JSON.stringify(values.name)}`] : []),
    'http:',
    '  listen: 127.0.0.1:8080',
    'mesh:',
    '  enabled: true',
    `  secret_file: ${JSON.stringify(secretFile)}`,
    '  mdns: true',
    '  # peers: [/ip4/192.0.2.10/tcp/7946]   # nodes on other networks',
    'cookbook: cookbook.yaml',
    '',
  ]
  await writeFile(configFile, lines.join('\n'))
  const cookbookFile = join(home, 'cookbook.yaml')
  if (!(await exists(cookbookFile))) await writeFile(cookbookFile, '# models this node serves; see cookbook/example.yaml\nmodels: []\n')
  out.write(`wrote ${configFile}\nwrote ${secretFile} (mode 600)\n`)
  if (values.join === undefined) out.write(`\nOn every other machine run:\n  herd init --join ${hexOf(secret)}\n`)
  return 0
}

/** The secret given to --join: a file holding a swarm key, a swarm key's text, or its 64 hex digits. */
async function joinSecret(given: string): Promise<string> {
  const text = (await exists(given)) ? await readFile(given, 'utf8') : given
  const trimmed = text.trim()
  const full = /^[0-9a-fA-F]{64}$/.test(trimmed) ? `/key/swarm/psk/1.0.0/\n/base16/\n${trimmed.toLowerCase()}\n` : text
  parseSwarmKey(full)
  return full
}

function hexOf(swarmKey: string): string {
  return swarmKey.trim().split('\n').at(-1) ?? ''
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}
