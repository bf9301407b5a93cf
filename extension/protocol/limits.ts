// The one table of limits: what DTD Lens reads, decodes and allocates at most,
// checked before memory is allocated (declared sizes, nesting depths, counts)
// by the host (file sizes before reading) and the engine (everything it
// parses). A value here is the only place that limit is written.

export const LIMITS = {
  /** Model file size (MB) when no setting says otherwise (dtdLens.maxModelSizeMB). */
  modelFileMB: 200,
  /** Decompressed bytes inside zip archives (.keras, .pt): 10× the model size limit. */
  uncompressedBytes: 10 * 200 * 1024 * 1024,
  /** safetensors header (bytes). */
  safetensorsHeaderBytes: 100_000_000,
  /** Decoded image pixels (a 50-megapixel photo). */
  imagePixels: 50_000_000,
  /** The sidecar `<model>.dtd.json` (bytes): it describes layers, never weights. */
  sidecarBytes: 4 * 1024 * 1024,
  /** Nesting depth of the sidecar's JSON (arrays and objects), checked before parsing. */
  sidecarDepth: 64,
  /** Distinct files a model may name next to itself (TF.js weight shards); they count toward the model size limit. */
  siblingFiles: 1000,
  /** Input files (JSON, CSV, .npy, images) read by the host or the command line (MB). */
  inputFileMB: 200,
  /** Random inputs (--random-input, the audit): the most draws of |N(0, I)| without one whose explained output is above the threshold. */
  randomInputDraws: 10_000,
  /** Random inputs: the most seconds spent drawing without one whose explained output is above the threshold. */
  randomInputSeconds: 10,
  /**
   * Train-free root checks: the most multiply-adds per explained input spent re-running the network
   * above each layer's roots (every layer pass counts at least `rootCheckLayerPass`). Deep networks
   * cost ∝ depth² here; past this the lowest layers' checks are skipped with a warning.
   */
  rootCheckWork: 1e9,
  /** What one batched layer pass costs at least in the root-check estimate (multiply-adds), whatever its width. */
  rootCheckLayerPass: 1000,
} as const;

export type LimitName = keyof typeof LIMITS;
