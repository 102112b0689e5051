export { Router, type RouterComponents, type RouterInit, type RemoteTargets, type RoutablePeer, type ForwardRequest } from './router.ts'
export { serveLocal, relayableHeaders, type LocalInstances, type LocalTargetComponents } from './local-target.ts'
export { CircuitBreakers, type CircuitState } from './circuit-breaker.ts'
export { score, rank, memoryRoom, type Candidate, type ScoreInput, type Tier } from './scoring.ts'
export { ModelCatalog, type CatalogEntry } from './catalog.ts'
export type { RouteRequest, UpstreamResponse, Endpoint, WaitState, WaitStatus, OnWaiting } from './types.ts'
export { localModel, localModels, localPrice, localState, runningInstances, type LocalState, type LocalStateSources } from './local-state.ts'
export { byPrice, costMicros, priceRank } from './pricing.ts'
export { readCapped, rejectRemoteError } from './remote-error.ts'
export { WAIT_HEADER, DEFAULT_WAIT_BOUND_MS, parseWaitHeader, waitHeader } from './wait-bound.ts'
export {
  backendCandidates,
  backendFor,
  noEgressRequested,
  scoreBackend,
  MODEL_HEADER,
  NO_EGRESS_HEADER,
  type BackendPeer,
  type BackendTargets,
} from './backend-target.ts'
export { MAX_RETRY_AFTER_MS, type CircuitBreakerInit } from './circuit-breaker.ts'
