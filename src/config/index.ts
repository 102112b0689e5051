/** The config component: node config and cookbook loading, validation, addressing and hot reload. */
export { loadConfig } from './load-config.ts'
export type { ConfigOverrides, LoadConfigOptions } from './load-config.ts'
export { loadCookbook, cookbookFiles, backendNames } from './cookbook.ts'
export { buildBackend, parseBackend, CREDENTIAL_HEADER, MAX_KEY_FILE_BYTES, type BuildBackendOptions } from './backend.ts'
export { Secret, REDACTED } from './secret.ts'
export type { LoadCookbookOptions } from './cookbook.ts'
export { resolveModel, profilesOfModel } from './resolve.ts'
export { CookbookWatcher } from './watcher.ts'
export { ModelFiles, type ModelFilesComponents, type ModelFilesEvents, type ModelFilesInit, type ModelFileStatus } from './model-files.ts'
export type { CookbookWatcherEvents, CookbookWatcherInit } from './watcher.ts'
export { tokenizeArgs, capabilitiesOf } from './args.ts'
export { launchHash, defaultProfile } from './profile.ts'
export type {
  Capabilities,
  Config,
  Cookbook,
  ProfileSpec,
  RouteSpec,
  RouteStrategy,
  BackendSpec,
  BackendModelSpec,
  BackendProtocol,
  CredentialRef,
  Price,
} from './types.ts'
export type { ConfigFile, CookbookFile, ProfileFile, BackendFile } from './schema.ts'
export { backendSchema, backendNameSchema, MAX_BACKENDS, MAX_BACKEND_MODELS, MAX_MODEL_DIRS } from './schema.ts'
export { readTls, splitHostPort } from './http.ts'
