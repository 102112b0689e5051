/**
 * instances: the llama-server supervisor. Others import it through this file.
 *
 * ```ts
 * const instances = instanceManager({ killGraceMs: 5000 })({ logger, binary, runtimeDir })
 * await instances.start()
 * instances.setProfiles(profiles)
 * const lease = await instances.acquire(profile, { signal, requestId })
 * // proxy to lease.baseUrl, stop when lease.exited aborts
 * lease.release({ tokens, ms })
 * ```
 */
import { InstanceManager } from './manager.ts'
import type { InstanceManagerComponents, InstanceManagerInit } from './options.ts'

export { InstanceManager } from './manager.ts'
export type { InstanceCounters, InstanceEventMap, InstanceLogs, InstanceManagerComponents, InstanceManagerInit, ManagerStatus } from './options.ts'
export type { ProcessInfo } from './instance.ts'
export type { Fit, FitOptions, SpawnPlacement } from './prepare.ts'
export type { ExitInfo } from './spawn.ts'
export type { AcquireOptions, InstanceEvents, InstanceSnapshot, InstanceStatus, Lease, ProfileLoad, QueueWait } from './types.ts'
export { parallelFromArgs } from './capacity.ts'
export { WaitQueue, type QueuePolicy, type Waiter } from './queue.ts'

/** libp2p-style factory: options first, collaborators later. */
export function instanceManager(init: InstanceManagerInit = {}): (components: InstanceManagerComponents) => InstanceManager {
  return (components) => new InstanceManager(components, init)
}
