/** The GGUF facts the inventory shows and gossips for a model file: small, and no paths but the file name. */
import { basename } from 'node:path'
import type { GgufInfo } from '../hardware/index.ts'

export interface GgufFacts {
  /** The file's name (the first part's, for a split model); never its folder. */
  readonly file: string
  readonly architecture: string
  /** Sum of all tensors' element counts. */
  readonly parameters: number
  /** `general.file_type` by name (`Q4_K_M`, `F16`); null when the file does not say. */
  readonly quantization: string | null
  /** The trained context (`<arch>.context_length`); 0 when the file does not say. */
  readonly contextLength: number
  /** Bytes on disk, every part together. */
  readonly sizeBytes: number
  /** Files of a split model; 1 otherwise. */
  readonly parts: number
  /** The projector's file name, when one is attached (`--mmproj`). */
  readonly mmproj: string | null
}

export function factsOf(info: GgufInfo, extra: { parts?: number; mmproj?: string | undefined } = {}): GgufFacts {
  return {
    file: basename(info.path),
    architecture: info.architecture,
    parameters: info.parameterCount,
    // llama.cpp's enum says MOSTLY_Q4_K_M; people (and file names) say Q4_K_M.
    quantization: info.fileTypeName === undefined ? null : info.fileTypeName.replace(/^MOSTLY_/, ''),
    contextLength: info.contextLength,
    sizeBytes: info.fileSize,
    parts: extra.parts ?? 1,
    mmproj: extra.mmproj === undefined ? null : basename(extra.mmproj),
  }
}
