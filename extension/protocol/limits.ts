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
  /** A name from a file (layer, node, tensor key, file name) inside a message (characters; protocol/text.ts). */
  nameChars: 80,
  /** A message shown to the user: a notification, an engine error (characters). */
  messageChars: 1000,
  /** One log line (an engine log message, a stack trace) in the Output channel (characters). */
  logLineChars: 8000,
  /** An engine reply (result, inspection, audit) crossing to the extension host (bytes, approximately). */
  resultBytes: 256 * 1024 * 1024,
} as const;

export type LimitName = keyof typeof LIMITS;
