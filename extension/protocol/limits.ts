// The one table of limits: what DTD Lens reads, decodes and allocates at most,
// checked before memory is allocated (declared sizes, nesting depths, counts)
// by the host (file sizes before reading) and the engine (everything it
// parses). A value here is the only place that limit is written.
// docs/engine.md ("Limits") says where each one is checked.

export const LIMITS = {
  /** Model file size (MB) when no setting says otherwise (dtdLens.maxModelSizeMB). */
  modelFileMB: 200,
  /** Decompressed bytes inside zip archives (.keras, .pt) and HDF5 chunks: 4× the model size limit (weights compress little; more is a bomb). */
  uncompressedBytes: 4 * 200 * 1024 * 1024,
  /** safetensors header (bytes). */
  safetensorsHeaderBytes: 100_000_000,
  /** Decoded image pixels (a 50-megapixel photo), checked on every PNG IHDR and JPEG frame header. */
  imagePixels: 50_000_000,
  /** The sidecar `<model>.dtd.json` (bytes): it describes layers, never weights. */
  sidecarBytes: 4 * 1024 * 1024,
  /** Nesting depth of the sidecar's JSON (arrays and objects), checked before parsing. */
  sidecarDepth: 64,
  /** Distinct files a model may name next to itself (TF.js weight shards); they count toward the model size limit. */
  siblingFiles: 1000,
  /** Channels of one concept (CRP) request: conditional heatmaps computed in one batch. */
  conceptChannels: 1024,
  /** Input files (JSON, CSV, .npy, images) read by the host or the command line (MB). */
  inputFileMB: 200,
  /** Dataset runs (--inputs, a folder of images): the most inputs in one run (rows of a .npy/CSV/JSON file, images in a folder). */
  datasetInputs: 100_000,
  /** Dataset runs: the most input values of all inputs together (400 MB as float64), checked from a file's header or the folder's count before decoding. */
  datasetValues: 50_000_000,
  /** Dataset runs: the most entries listed in an image folder (files of every kind, counted before any is read). */
  datasetFolderEntries: 200_000,
  /** Dataset runs: the most bytes read from an image folder, all files together (MB). */
  datasetFolderMB: 2048,
  /** The dataset gallery (--html, the VS Code panel): the most items drawn; the summary still covers every input. */
  galleryItems: 5000,
  /** Random inputs (--random-input, the audit): the most draws of |N(0, I)| without one whose explained output is above the threshold. */
  randomInputDraws: 10_000,
  /** Random inputs: the most seconds spent drawing without one whose explained output is above the threshold. */
  randomInputSeconds: 4,
  /**
   * Train-free root checks: the most multiply-adds per explained input spent re-running the network
   * above each layer's roots (every layer pass counts at least `rootCheckLayerPass`; the estimate is
   * explainBatch.ts rootCheckCosts). Past it big layers are checked on a stated sample and, when not
   * even one root fits, the lowest layers are skipped with a warning. Deep networks cost ∝ depth² here.
   * 3e8 is about 0.4 s on the 2-core benchmark machine (with the blocked typed kernels): train-free
   * LeNet-5 ≤ 1 s and the VGG-style 3×32×32 CNN ≤ 2 s from the command line (issue 13).
   */
  rootCheckWork: 3e8,
  /** What one batched layer pass costs at least in the root-check estimate (multiply-adds), whatever its width: its fixed cost (about 2 µs, like 3000 multiply-adds at the estimate's ~1e9 per second; a 3000-layer net of width 4 otherwise took 6 s). */
  rootCheckLayerPass: 3000,

  /** Values in one tensor (weights, a layer's dense matrix): 2^27, 1 GB as float64 (VGG-16's first classifier weight, 4096 × 25088, has 1.03e8). */
  tensorElements: 134_217_728,
  /** Values decoded for one model, all tensors together (2 GB as float64). */
  modelElements: 250_000_000,
  /** Units of one layer's input or output (C·H·W of a feature map, a dense layer's width). */
  layerUnits: 16_000_000,
  /** A convolution's or pooling's padding on one side, at most this many times the input's size on that axis (or the kernel's extent, if larger). */
  paddingPerInput: 1,

  /** Nesting depth of JSON documents (models, sidecars, inputs, Keras configs, safetensors headers). */
  jsonDepth: 100,
  /** Arrays and objects in one JSON document. */
  jsonContainers: 5_000_000,
  /** Nesting depth of protobuf messages (ONNX). */
  protobufDepth: 64,

  /** Values on the pickle VM's stack at once. */
  pickleStack: 1_000_000,
  /** Entries in the pickle memo. */
  pickleMemo: 1_000_000,
  /** Open MARKs on the pickle stack (the nesting depth of tuples, lists and dicts being built). */
  pickleMarks: 1_000,
  /** Values put into lists, tuples and dicts by one pickle, all together. */
  pickleItems: 10_000_000,

  /** Entries in one zip archive. */
  zipEntries: 10_000,
  /** Times one TF.js weight shard may be listed in model.json's weightsManifest. */
  shardRepetitions: 1,
  /** Distinct B-tree nodes read for one HDF5 B-tree (a node read twice is refused anyway). */
  hdf5BTreeNodes: 1_000_000,

  /**
   * The tfjs-wasm heap one float32 explanation may need, as estimated before it starts (MB; ops/select.ts
   * wasmHeapBytes: the weights with their positive and negative parts, the layers' batch tensors). tfjs-wasm's
   * heap stops at 4 GB and fragments: past this estimate it aborted ("memory access out of bounds", VGG-16 at
   * 224²), so backend auto runs such a network on typed float32 arrays and --backend wasm is refused up front.
   */
  wasmHeapMB: 2048,
  /** Heap of the engine process (MB): node --max-old-space-size. */
  engineHeapMB: 4096,
  /** A name from a file (layer, node, tensor key, file name) inside a message (characters; protocol/text.ts). */
  nameChars: 80,
  /** A message shown to the user: a notification, an engine error (characters). */
  messageChars: 1000,
  /** One log line (an engine log message, a stack trace) in the Output channel (characters). */
  logLineChars: 8000,
  /** An engine reply (result, inspection, audit) crossing to the extension host (bytes, approximately). */
  resultBytes: 256 * 1024 * 1024,
  /** Numbers kept in a full-backward result's root tree (about 20 MB as JSON); a larger tree is truncated. */
  treeValues: 1_000_000,
  /**
   * Values of one layer kept inline in a result the host stores and the webview draws (activations, pre-activations,
   * relevance, a baseline's per-layer relevance, the root points of a layer's units); a larger layer is summarized
   * (per-channel sums and a downsampled map) and its full values are a page read on request (protocol/pages.ts).
   */
  inlineLayerValues: 200_000,
  /**
   * A result as written for the views (the command line's --json and --html, without --full-tensors): at most this
   * many bytes of JSON, whatever the network. Layers are summarized (inlineLayerValues lowered step by step) until the
   * result fits; the full values are what --full-tensors writes (issue 13: the size follows the views, not the network).
   */
  resultViewBytes: 20 * 1024 * 1024,
  /** Values of one summarized layer's downsampled map (all channels together). */
  summaryMapValues: 16_384,
  /** One page of a stored run's page file (a root-tree node with its children, a layer's full values): the most bytes the host reads for it. */
  pageBytes: 64 * 1024 * 1024,
  /** The index of a stored run's page file (bytes). */
  pageIndexBytes: 16 * 1024 * 1024,
} as const;

export type LimitName = keyof typeof LIMITS;
