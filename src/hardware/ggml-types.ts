/**
 * ggml tensor types as GGUF stores them: id → (name, elements per block, bytes per block).
 * Numbers come from ggml/include/ggml.h and the `static_assert(sizeof(block_…))` lines in
 * ggml/src/ggml-common.h of the llama.cpp herd builds (QK_K = 256). Ids that ggml removed
 * (Q4_0_4_4 …) keep their old sizes so older files still add up.
 */

export interface GgmlType {
  readonly name: string
  /** Elements per block. */
  readonly blockSize: number
  /** Bytes per block. */
  readonly typeSize: number
}

const t = (name: string, blockSize: number, typeSize: number): GgmlType => ({ name, blockSize, typeSize })

const TYPES: ReadonlyMap<number, GgmlType> = new Map([
  [0, t('F32', 1, 4)],
  [1, t('F16', 1, 2)],
  [2, t('Q4_0', 32, 18)],
  [3, t('Q4_1', 32, 20)],
  [6, t('Q5_0', 32, 22)],
  [7, t('Q5_1', 32, 24)],
  [8, t('Q8_0', 32, 34)],
  [9, t('Q8_1', 32, 36)],
  [10, t('Q2_K', 256, 84)],
  [11, t('Q3_K', 256, 110)],
  [12, t('Q4_K', 256, 144)],
  [13, t('Q5_K', 256, 176)],
  [14, t('Q6_K', 256, 210)],
  [15, t('Q8_K', 256, 292)],
  [16, t('IQ2_XXS', 256, 66)],
  [17, t('IQ2_XS', 256, 74)],
  [18, t('IQ3_XXS', 256, 98)],
  [19, t('IQ1_S', 256, 50)],
  [20, t('IQ4_NL', 32, 18)],
  [21, t('IQ3_S', 256, 110)],
  [22, t('IQ2_S', 256, 82)],
  [23, t('IQ4_XS', 256, 136)],
  [24, t('I8', 1, 1)],
  [25, t('I16', 1, 2)],
  [26, t('I32', 1, 4)],
  [27, t('I64', 1, 8)],
  [28, t('F64', 1, 8)],
  [29, t('IQ1_M', 256, 56)],
  [30, t('BF16', 1, 2)],
  [31, t('Q4_0_4_4', 32, 18)],
  [32, t('Q4_0_4_8', 32, 18)],
  [33, t('Q4_0_8_8', 32, 18)],
  [34, t('TQ1_0', 256, 54)],
  [35, t('TQ2_0', 256, 66)],
  [36, t('IQ4_NL_4_4', 32, 18)],
  [37, t('IQ4_NL_4_8', 32, 18)],
  [38, t('IQ4_NL_8_8', 32, 18)],
  [39, t('MXFP4', 32, 17)],
  [40, t('NVFP4', 64, 36)],
  [41, t('Q1_0', 128, 18)],
  [42, t('Q2_0', 64, 18)],
])

const BY_NAME: ReadonlyMap<string, number> = new Map([...TYPES].map(([id, type]) => [type.name.toLowerCase(), id]))

/** The type with this GGUF id, or undefined for an id this table does not know. */
export function ggmlType(id: number): GgmlType | undefined {
  return TYPES.get(id)
}

/** The GGUF id of a type named as llama.cpp's `--cache-type-k` takes it (`f16`, `q8_0`, …). */
export function ggmlTypeId(name: string): number | undefined {
  return BY_NAME.get(name.toLowerCase())
}

/**
 * Bytes a row-major tensor of `elements` elements of this type occupies. ggml requires the
 * first dimension to be a multiple of the block size, so a whole number of blocks.
 */
export function ggmlBytes(type: GgmlType, elements: number): number {
  return Math.ceil(elements / type.blockSize) * type.typeSize
}

/** GGUF `general.file_type` (llama_ftype) names, for display. */
const FILE_TYPES: readonly (string | undefined)[] = [
  'ALL_F32',
  'MOSTLY_F16',
  'MOSTLY_Q4_0',
  'MOSTLY_Q4_1',
  'MOSTLY_Q4_1_SOME_F16',
  undefined,
  undefined,
  'MOSTLY_Q8_0',
  'MOSTLY_Q5_0',
  'MOSTLY_Q5_1',
  'MOSTLY_Q2_K',
  'MOSTLY_Q3_K_S',
  'MOSTLY_Q3_K_M',
  'MOSTLY_Q3_K_L',
  'MOSTLY_Q4_K_S',
  'MOSTLY_Q4_K_M',
  'MOSTLY_Q5_K_S',
  'MOSTLY_Q5_K_M',
  'MOSTLY_Q6_K',
  'MOSTLY_IQ2_XXS',
  'MOSTLY_IQ2_XS',
  'MOSTLY_Q2_K_S',
  'MOSTLY_IQ3_XS',
  'MOSTLY_IQ3_XXS',
  'MOSTLY_IQ1_S',
  'MOSTLY_IQ4_NL',
  'MOSTLY_IQ3_S',
  'MOSTLY_IQ3_M',
  'MOSTLY_IQ2_S',
  'MOSTLY_IQ2_M',
  'MOSTLY_IQ4_XS',
  'MOSTLY_IQ1_M',
  'MOSTLY_BF16',
  undefined,
  undefined,
  undefined,
  'MOSTLY_TQ1_0',
  'MOSTLY_TQ2_0',
  'MOSTLY_MXFP4_MOE',
  'MOSTLY_NVFP4',
  'MOSTLY_Q1_0',
  'MOSTLY_Q2_0',
]

/** A readable name for a `general.file_type` value. */
export function fileTypeName(fileType: number): string {
  return FILE_TYPES[fileType] ?? `UNKNOWN_${fileType}`
}
