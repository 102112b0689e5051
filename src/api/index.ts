export { buildApp, type ApiDeps, type HealthView } from './app.ts'
export { Metrics } from './metrics.ts'
export { prepareRoute, ENDPOINT_BY_PATH, ENDPOINT_PATHS } from './prepare.ts'
export { toHerdError } from './errors.ts'
