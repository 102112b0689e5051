/** What GET /admin/backends shows of a backend: where its credential comes from, never the credential, nor header values. */
import type { BackendSpec, CredentialRef } from '../config/index.ts'
import type { BackendState } from '../mesh/types.ts'

export interface BackendView {
  name: string
  /** The cookbook file it is defined in, or `admin` (registered at run time). */
  source: string
  protocol: BackendSpec['protocol'] | null
  base_url: string | null
  credential: CredentialRef
  /** Names of the extra headers sent upstream (their values are not shown). */
  headers: string[]
  models: string[]
  discover: boolean
  egress: boolean
  max_concurrency: number | null
  max_queue_size: number | null
  timeouts: { connect_ms: number; first_byte_ms: number; idle_ms: number } | null
  /** Live state, when it runs. */
  state: { health: BackendState['health']; circuit: BackendState['circuit']; in_use: number; queue_length: number } | null
  /** Why a registered backend does not run (its variable is unset, its file gone). */
  error?: string
}

export function backendView(spec: BackendSpec, state: BackendState | undefined): BackendView {
  return {
    name: spec.name,
    source: spec.source,
    protocol: spec.protocol,
    base_url: spec.baseUrl,
    credential: spec.credential,
    headers: Object.keys(spec.headers),
    models: (state?.models ?? spec.models.map((m) => ({ id: `${spec.name}/${m.name}` }))).map((m) => m.id),
    discover: spec.discover,
    egress: spec.egress,
    max_concurrency: spec.maxConcurrency,
    max_queue_size: spec.maxQueueSize,
    timeouts: { connect_ms: spec.timeouts.connectMs, first_byte_ms: spec.timeouts.firstByteMs, idle_ms: spec.timeouts.idleMs },
    state: state === undefined ? null : { health: state.health, circuit: state.circuit, in_use: state.inUse, queue_length: state.queueLength },
  }
}

/** A registered backend that does not build now. */
export function brokenView(name: string, error: string): BackendView {
  return {
    name,
    source: 'admin',
    protocol: null,
    base_url: null,
    credential: null,
    headers: [],
    models: [],
    discover: false,
    egress: false,
    max_concurrency: null,
    max_queue_size: null,
    timeouts: null,
    state: null,
    error,
  }
}
