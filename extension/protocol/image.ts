// How an image file (PNG, JPEG) becomes a model input: the options the user sets
// (settings, CLI flags, the sidecar's "preprocessing" block). The engine applies them (engine/image.ts).

/** How an image file becomes the model's input. Every field is optional. */
export interface ImagePreprocessing {
  /** Order of the colour channels for C = 3 (default "rgb"). */
  channelOrder?: 'rgb' | 'bgr';
  /** Grey conversion for C = 1 (default "luma", ITU-R BT.601). */
  grayscale?: 'luma' | 'average';
  /** Value range after scaling (default "0..1"). */
  scale?: '0..1' | '0..255' | '-1..1';
  /** Per-channel mean subtracted after scaling (one value, or one per channel; default 0). */
  mean?: number[];
  /** Per-channel standard deviation divided by after the mean (default 1). */
  std?: number[];
  /** "bilinear" (default) resizes to the model's H×W; "none" requires the image to have that size. */
  resize?: 'bilinear' | 'none';
}


/** An input's shape [C, H, W] (channels first, the engine's NCHW order). */
export type InputShape = [number, number, number];

/**
 * `value` as an input shape [C, H, W] of positive integers, or null when it is not one
 * (an empty list too: "no shape given"). One check for the sidecar's `inputShape`, the
 * `dtdLens.inputShape` setting and the webview.
 */
export function asInputShape(value: unknown): InputShape | null {
  return Array.isArray(value) && value.length === 3 && value.every((d) => Number.isSafeInteger(d) && d > 0) ? (value.slice() as InputShape) : null;
}
