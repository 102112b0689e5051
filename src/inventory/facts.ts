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

/** A file name's most characters (what most file systems allow), and the longest architecture or type name gossiped. */
export const MAX_FACT_FILE = 255
export const MAX_FACT_NAME = 64

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g

/**
 * Text from a file name or GGUF metadata, made safe to gossip and print: control characters
 * (a terminal escape in a file name) become `?`, and it is cut to the gossip schema's cap,
 * so one odd file can never get this node's whole state refused by its peers.
 */
export function cleanText(text: string, max: number): string {
  return text.replace(CONTROL, '?').slice(0, max)
}

export function factsOf(info: GgufInfo, extra: { parts?: number; mmproj?: string | undefined } = {}): GgufFacts {
  return {
    file: cleanText(basename(info.path), MAX_FACT_FILE),
    architecture: cleanText(info.architecture, MAX_FACT_NAME),
    parameters: info.parameterCount,
    // llama.cpp's enum says MOSTLY_Q4_K_M; people (and file names) say Q4_K_M.
    quantization: info.fileTypeName === undefined ? null : cleanText(info.fileTypeName.replace(/^MOSTLY_/, ''), MAX_FACT_NAME),
    contextLength: info.contextLength,
    sizeBytes: info.fileSize,
    parts: extra.parts ?? 1,
    mmproj: extra.mmproj === undefined ? null : cleanText(basename(extra.mmproj), MAX_FACT_FILE),
  }
}
