/** Bounds on what a `model_dirs` scan visits and keeps, so a huge or looping tree costs a bounded amount. */

/** Folder levels below a `model_dirs` entry that are searched (the entry itself is level 0). */
export const MAX_SCAN_DEPTH = 8
/** Directory entries one scan looks at, over all folders; past it the scan stops and says so once. */
export const MAX_SCAN_ENTRIES = 50_000
/** GGUF files one scan reads; more are left out (and said so once). */
export const MAX_SCAN_FILES = 2048
/** Models the inventory adds; the gossip cap on models (MAX_GOSSIP_MODELS) is 1024 too. */
export const MAX_DISCOVERED_MODELS = 1024
/** A full rescan this often, besides the file-system watch (which can miss events, or be unavailable). */
export const DEFAULT_RESCAN_MS = 30_000
/** Quiet time after the last file event before rescanning (a download writes many). */
export const DEFAULT_DEBOUNCE_MS = 250
/** The smallest context a discovered model is given, when its trained one is at least this long. */
export const MIN_DISCOVERED_CONTEXT = 2048
/** Discovered model names are cut to this many characters. */
export const MAX_DISCOVERED_NAME = 96
