/** Turning one validated cookbook profile into the ProfileSpec the supervisor launches. */
import { createHash } from 'node:crypto'
import { dirname } from 'node:path'
import { profileSchema, type ProfileFile } from './schema.ts'
import type { ProfileSpec } from './types.ts'
import {
  ArgsSyntaxError,
  capabilitiesOf,
  findFlag,
  HF_FILE_FLAGS,
  HF_REPO_FLAGS,
  MANAGED_FLAGS,
  MODEL_FLAGS,
  OTHER_SOURCE_FLAGS,
  takeFlag,
  tokenizeArgs,
} from './args.ts'
import { configError } from './issues.ts'
import { priceOf, resolveFrom } from './util.ts'

/** Hash of what is launched, independent of the binary and of herd's own flags. */
export function launchHash(modelPath: string | undefined, args: readonly string[]): string {
  return createHash('sha256')
    .update(JSON.stringify([modelPath ?? null, ...args]))
    .digest('hex')
    .slice(0, 16)
}

const seconds = (s: number): number => Math.round(s * 1000)

/**
 * Builds the spec for `model:profile` read from `file`. Throws HerdError('config_invalid')
 * naming the file and profile when the args are unusable or the profile has no model source.
 */
export function buildProfile(modelName: string, profile: ProfileFile, file: string, modelDescription?: string): ProfileSpec {
  const id = `${modelName}:${profile.id}`
  const fail = (message: string): never => {
    throw configError([`${file}: models[${modelName}].profiles[${profile.id}]: ${message}`])
  }
  const dir = dirname(file)

  let args: string[]
  try {
    args = typeof profile.llama_server_args === 'string' ? tokenizeArgs(profile.llama_server_args) : [...profile.llama_server_args]
  } catch (err: unknown) {
    if (err instanceof ArgsSyntaxError) return fail(`llama_server_args: ${err.message}`)
    throw err
  }

  const managed = findFlag(args, MANAGED_FLAGS)
  if (managed !== undefined) {
    fail(`llama_server_args: ${managed} is set by herd (each instance listens on 127.0.0.1 on a port herd picks); remove it`)
  }

  const hfInArgs = findFlag(args, [...HF_REPO_FLAGS, ...HF_FILE_FLAGS])
  let modelPath: string | undefined
  if (profile.model_path !== undefined) {
    const flag = findFlag(args, MODEL_FLAGS)
    if (flag !== undefined) fail(`llama_server_args: ${flag} conflicts with model_path; herd passes model_path as -m itself, keep one`)
    if (profile.hf_repo !== undefined) fail('model_path and hf_repo are both set; keep one')
    if (hfInArgs !== undefined) fail(`llama_server_args: ${hfInArgs} conflicts with model_path; keep one`)
    modelPath = resolveFrom(dir, profile.model_path)
  } else if (findFlag(args, MODEL_FLAGS) !== undefined) {
    // Lifted out of the args so the file resolves against the cookbook (not llama-server's cwd)
    // and memory estimates and the missing-file check can read it.
    const taken = takeFlag(args, MODEL_FLAGS)
    if (taken.value === undefined || taken.value === '') fail('llama_server_args: -m/--model needs a file')
    modelPath = resolveFrom(dir, taken.value as string)
    args = taken.rest
  }

  if (profile.hf_file !== undefined && profile.hf_repo === undefined) fail('hf_file needs hf_repo')
  if (profile.hf_repo !== undefined) {
    if (hfInArgs !== undefined) fail(`llama_server_args: ${hfInArgs} conflicts with hf_repo; keep one`)
    // llama-server: -hf <user>/<model>[:quant]; -hff <file> overrides the quant with an exact file.
    const hf = ['-hf', profile.hf_repo, ...(profile.hf_file === undefined ? [] : ['-hff', profile.hf_file])]
    args = [...hf, ...args]
  }

  const hasSource = modelPath !== undefined || findFlag(args, [...HF_REPO_FLAGS, ...OTHER_SOURCE_FLAGS]) !== undefined
  if (!hasSource) fail('needs model_path or hf_repo (or -m / -hf in llama_server_args)')

  return {
    id,
    model: modelName,
    profile: profile.id,
    description: profile.description ?? modelDescription,
    modelPath,
    args,
    capabilities: capabilitiesOf(args),
    idleTimeoutMs: seconds(profile.idle_timeout_seconds),
    startupTimeoutMs: seconds(profile.startup_timeout_seconds),
    maxInstances: profile.max_instances,
    maxQueueSize: profile.max_queue_size,
    maxWaitInQueueMs: profile.max_wait_in_queue_ms,
    maxRequestDurationMs: profile.max_request_duration_ms,
    downloadTimeoutMs: profile.download_timeout_seconds === undefined ? undefined : seconds(profile.download_timeout_seconds),
    minEvictionTenureMs: profile.min_eviction_tenure_secs === undefined ? undefined : seconds(profile.min_eviction_tenure_secs),
    estimatedVramMb: profile.estimated_vram_mb,
    estimatedSysmemMb: profile.estimated_sysmem_mb,
    ...(profile.price === undefined ? {} : { price: priceOf(profile.price) }),
    launchHash: launchHash(modelPath, args),
  }
}

/**
 * A `default` profile with every cookbook default, for a model herd found itself (a GGUF
 * under `model_dirs`): `model:default`, the file as `model_path`, these llama-server args.
 */
export function defaultProfile(modelName: string, modelPath: string, args: readonly string[], description?: string): ProfileSpec {
  const parsed = profileSchema.parse({
    id: 'default',
    model_path: modelPath,
    llama_server_args: [...args],
    ...(description === undefined ? {} : { description }),
  })
  return buildProfile(modelName, parsed, modelPath)
}
