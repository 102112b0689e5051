/**
 * backends: external OpenAI- and Anthropic-protocol endpoints (vLLM, Ollama, LM Studio,
 * OpenRouter, OpenAI, Anthropic, another herd) served as models `backend/model`, a third
 * kind of router target beside local llama-server and peers. Others import it from here.
 *
 * ```ts
 * const backends = new Backends({ logger, nodeName, convert: convertProtocols }, { home, env })
 * backends.setConfigured(cookbook.backends ?? [])
 * await backends.start()
 * backends.on('backends:changed', () => mesh.notifyChanged())
 * const res = await backends.serve(routeRequest)
 * ```
 */
export { Backends, type BackendsComponents, type BackendsEvents, type BackendsInit } from './backends.ts'
export { Backend, MAX_CONVERTED_ANSWER_BYTES, MAX_ERROR_BODY_BYTES, parseRetryAfter, type BackendComponents } from './backend.ts'
export { BackendClient, type BackendCall } from './client.ts'
export { ConcurrencyLimit, type LimiterInit, type Slot } from './limiter.ts'
export { MAX_DISCOVERY_BYTES, parseModelList } from './discovery.ts'
export { PROBE_TIMEOUT_MS, ProbeLoop, probeBackend, type ProbeResult } from './health.ts'
export { BACKEND_PATHS, backendEndpoints, backendServes, conversionFor, type Conversion, type ConversionSettings, type Converter } from './protocol.ts'
export { convertProtocols } from './conversions.ts'
export { BackendRegistry, KEYS_DIR, KEY_ENV_PREFIX, REGISTRY_FILE } from './registry.ts'
export { backendView, type BackendView } from './view.ts'
export { backendModels } from './models.ts'
