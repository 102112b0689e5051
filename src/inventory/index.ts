/**
 * inventory/: the models on this node's disks and across the mesh. Finds GGUF files under
 * `model_dirs` and serves each as a model with a `default` profile sized to the node; gossips
 * compact GGUF facts of every local model file; builds the mesh-wide `/cluster/inventory`.
 */
export { ModelInventory, discoveredModel, type DiscoveredModel, type InventoryItem, type MemoryFigures } from './inventory.ts'
export type { ModelInventoryComponents, ModelInventoryEvents, ModelInventoryInit } from './inventory.ts'
export { withDiscovered } from './merge.ts'
export { inventoryState, type InventorySources } from './state.ts'
export {
  clusterInventory,
  type ClusterInventory,
  type InventoryModelView,
  type InventoryNodeView,
  type InventoryBackendView,
  type InventoryNode,
  type MemoryView,
} from './view.ts'
export { fitContext, estimateFor, nodeBudget, type NodeBudget } from './context.ts'
export { scanModelDirs, type FoundFile, type ScanResult, type ScanLimits } from './scan.ts'
export { groupFiles, isProjector, type ModelGroup, type ReadGguf } from './group.ts'
export { assignNames, sanitizeModelName, fileStem } from './names.ts'
export { factsOf, type GgufFacts } from './facts.ts'
export * from './constants.ts'
