/**
 * hardware/: GPU and memory telemetry, GGUF reading and memory estimates, llama.cpp's own
 * projection (llama-fit-params), learned memory, and the capacity planner.
 */
export { ggmlType, ggmlTypeId, ggmlBytes, fileTypeName, type GgmlType } from './ggml-types.ts'
export { readGgufFile, GgufValueType, type GgufFile, type GgufTensorInfo, type GgufValue, type GgufArray, type GgufScalar } from './gguf-reader.ts'
export { readGgufInfo, type GgufInfo } from './gguf-info.ts'
export { estimateMemory, type EstimateOptions, type MemoryEstimate } from './estimate.ts'
export { parseLaunchArgs, estimateOptionsOf, type LaunchArgs } from './launch-args.ts'
export { estimateProfile, GgufInfoCache, type ProfileEstimate } from './estimate-profile.ts'
export { fitParams, fitParamsArgs, parseFitPrint, type FitParamsResult, type FitParamsMemory } from './fit-params.ts'
export { NvidiaSmi, parseGpuCsv, parseAppsCsv, type SmiSample, type GpuSample, type NvidiaSmiInit } from './nvidia-smi.ts'
export { parseMeminfo, parseProcStatus, readSysMem, readProcMem, type SysMem, type ProcMem } from './proc.ts'
export { Hardware, type HardwareComponents, type HardwareInit, type HardwareSnapshot, type HardwareEvents, type ProcessUsage } from './hardware.ts'
export { LearnedMemory, type LearnedEntry, type LearnedMemoryInit } from './learned-memory.ts'
export { resolveRequirement, type Requirement, type RequirementSource, type RequirementSources } from './requirement.ts'
export { planFit, resourceState, holders, type FitPlan, type Placement, type PlanInput, type HeldInstance, type Limits } from './capacity.ts'
export { marginMb, candidateLayouts } from './placement.ts'
export { CapacityPlanner, type CapacityPlannerComponents } from './planner.ts'
export { ggufCommand } from './gguf-command.ts'
export { admission, Serial, type AdmissionDeps } from './admission.ts'
export { Reservations, type Reservation, type Reserved, type ReservationsInit } from './reservations.ts'
export { NodeResources, type NodeResourcesComponents, type FitAnswer } from './node-resources.ts'
