/** llama/: finding or building `llama-server`. Other modules import from here only. */
export { buildLlama, DEFAULT_LLAMA_CPP_PACKAGE, type BuildLlamaOptions, type LlamaBuildResult } from './build.ts'
export {
  configuredLlamaCppPackage,
  LLAMA_BUILD_USAGE,
  llamaBuildCommand,
  parseLlamaBuildArgs,
  type LlamaBuildArgs,
  type LlamaBuildCommandOptions,
} from './command.ts'
export { findLlamaServer, type FindLlamaServerOptions, type LlamaServerInfo } from './find.ts'
export { listInstalls, readInstall, type Install, type InstallMeta } from './install.ts'
export { BASE_CMAKE_ARGS, BUILD_TARGETS, buildKey, llamaLayout, type LlamaLayout } from './layout.ts'
export { formatBuildEvent, parseCmakeProgress, type LlamaBuildEvent, type OnBuildProgress } from './progress.ts'
export { parseLlamaVersion, readLlamaVersion, type LlamaVersion } from './version.ts'
export { resolveLlamaServer } from './resolve.ts'
