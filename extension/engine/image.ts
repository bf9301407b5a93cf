// Image inputs: PNG and JPEG decoded with pure-JS decoders (pngjs, jpeg-js) and
// turned into the model's input: a flat Float64Array in C-major NCHW order
// (flat[c·H·W + h·W + w]) of the model's inputShape [C, H, W].
//
// Preprocessing, in this order (options: ImagePreprocessing, from the settings or
// the sidecar's "preprocessing" key):
//   1. decode to 8-bit RGB(A); alpha is dropped (pixels are used as stored, not composited);
//   2. resize to H×W, bilinear with half-pixel centres (PyTorch
//      interpolate(mode="bilinear", align_corners=False), no antialiasing), unless
//      the size already matches or resize is "none";
//   3. channels: C = 3 → RGB, or BGR with channelOrder "bgr"; C = 1 → grey
//      (ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B, or the plain average);
//   4. scale: "0..1" (v/255, default), "0..255" (v), "-1..1" (v/127.5 − 1);
//   5. per channel: (v − mean[c]) / std[c] (defaults 0 and 1).

import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { DtdError } from './errors';
import type { Shape3 } from './network';
import { LIMITS, type ImagePreprocessing } from '../protocol';

export type { ImagePreprocessing };

export const DEFAULT_PREPROCESSING: Required<Omit<ImagePreprocessing, 'mean' | 'std'>> = {
  channelOrder: 'rgb', grayscale: 'luma', scale: '0..1', resize: 'bilinear',
};

/** Largest image decoded, in pixels (a 50-megapixel photo); bigger ones are refused before decoding. */
export const MAX_IMAGE_PIXELS = LIMITS.imagePixels;

export interface DecodedImage {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel, row-major. */
  rgba: Uint8Array;
}

function display(fileName: string): string {
  const parts = fileName.split(/[\\/]/);
  return parts[parts.length - 1] || fileName;
}

function badInput(fileName: string, problem: string): DtdError {
  return new DtdError('bad-input', `${display(fileName)}: ${problem}`, fileName);
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The image format from the first bytes, or null for anything else. */
export function imageFormat(bytes: Uint8Array): 'png' | 'jpeg' | null {
  if (PNG_MAGIC.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/**
 * A decoder's complaint, or "corrupt or truncated data" for its own bugs on hostile bytes
 * (jpeg-js: "Cannot read properties of undefined …").
 */
function decoderMessage(e: unknown): string {
  if (e instanceof TypeError || e instanceof RangeError || !(e instanceof Error)) {
    return typeof e === 'string' && e.length < 200 ? e : 'corrupt or truncated data';
  }
  return e.message.length > 200 ? `${e.message.slice(0, 200)}…` : e.message;
}

/**
 * Walks the PNG's chunks before decoding: the first must be IHDR (so the size is not read
 * from other bytes), there must be exactly one (a second one bypassed the pixel check and
 * decoded 900 megapixels), and its width × height must be within LIMITS.imagePixels.
 */
function checkPngHeaders(bytes: Uint8Array, fileName: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = (at: number) => String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
  if (bytes.length < 33 || type(12) !== 'IHDR' || view.getUint32(8) !== 13) throw badInput(fileName, 'is not a readable PNG image (its first chunk is not a 13-byte IHDR header).');
  let headers = 0;
  for (let at = 8; at + 8 <= bytes.length; ) {
    const length = view.getUint32(at);
    const t = type(at + 4);
    if (t === 'IHDR') {
      if (++headers > 1) throw badInput(fileName, 'is refused: the PNG has more than one IHDR header (hostile or corrupt).');
      if (at + 16 <= bytes.length) {
        const w = view.getUint32(at + 8);
        const h = view.getUint32(at + 12);
        if (w * h > MAX_IMAGE_PIXELS) throw badInput(fileName, `the PNG is ${w}×${h} pixels, more than the ${MAX_IMAGE_PIXELS / 1e6} megapixels DTD Lens decodes.`);
      }
    }
    if (t === 'IEND') break;
    at += 12 + length;
  }
}

export function decodeImage(bytes: Uint8Array, fileName: string): DecodedImage {
  const format = imageFormat(bytes);
  if (format === 'png') {
    checkPngHeaders(bytes, fileName);
    let png: PNG;
    try {
      png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      throw badInput(fileName, `is not a readable PNG image (${decoderMessage(e)}).`);
    }
    if (png.width * png.height > MAX_IMAGE_PIXELS) throw badInput(fileName, `the PNG is ${png.width}×${png.height} pixels, more than the ${MAX_IMAGE_PIXELS / 1e6} megapixels DTD Lens decodes.`);
    return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
  }
  if (format === 'jpeg') {
    try {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
      return { width: img.width, height: img.height, rgba: img.data };
    } catch (e) {
      throw badInput(fileName, `is not a readable JPEG image (${decoderMessage(e)}).`);
    }
  }
  throw badInput(fileName, 'is neither a PNG nor a JPEG image.');
}

/** Reads and checks preprocessing options (settings or a sidecar's "preprocessing"); `fail` names the source. */
export function parsePreprocessing(raw: unknown, fail: (problem: string) => Error): ImagePreprocessing {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw fail('"preprocessing" must be an object.');
  const o = raw as Record<string, unknown>;
  const out: ImagePreprocessing = {};
  const known = ['channelOrder', 'grayscale', 'scale', 'mean', 'std', 'resize'];
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length) throw fail(`"preprocessing" has unknown keys ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${known.join(', ')}).`);
  const oneOf = <T extends string>(key: string, values: readonly T[]): T | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    if (!values.includes(v as T)) throw fail(`preprocessing.${key} must be ${values.map((x) => `"${x}"`).join(' or ')} (got ${JSON.stringify(v)}).`);
    return v as T;
  };
  out.channelOrder = oneOf('channelOrder', ['rgb', 'bgr'] as const);
  out.grayscale = oneOf('grayscale', ['luma', 'average'] as const);
  out.scale = oneOf('scale', ['0..1', '0..255', '-1..1'] as const);
  out.resize = oneOf('resize', ['bilinear', 'none'] as const);
  for (const key of ['mean', 'std'] as const) {
    const v = o[key];
    if (v === undefined) continue;
    const arr = typeof v === 'number' ? [v] : v;
    if (!Array.isArray(arr) || arr.length === 0 || !arr.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw fail(`preprocessing.${key} must be a number or a list of numbers, one per channel (got ${JSON.stringify(v)}).`);
    }
    if (key === 'std' && arr.some((x) => x === 0)) throw fail('preprocessing.std must not contain 0.');
    out[key] = arr as number[];
  }
  for (const k of Object.keys(out) as (keyof ImagePreprocessing)[]) if (out[k] === undefined) delete out[k];
  return out;
}

/** The sidecar's "preprocessing" block, if any. */
export function preprocessingFromSidecar(sidecar: unknown, sidecarFile = 'sidecar'): ImagePreprocessing | undefined {
  if (typeof sidecar !== 'object' || sidecar === null || !('preprocessing' in sidecar)) return undefined;
  return parsePreprocessing((sidecar as Record<string, unknown>).preprocessing, (p) => new DtdError('bad-model', `${display(sidecarFile)}: ${p}`, sidecarFile));
}

/** Bilinear sample positions for one axis: half-pixel centres, clamped at the border. */
function axisWeights(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; t: Float64Array } {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const t = new Float64Array(outSize);
  const ratio = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    const src = Math.max((d + 0.5) * ratio - 0.5, 0);
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[d] = lo;
    i1[d] = Math.min(lo + 1, inSize - 1);
    t[d] = src - lo;
  }
  return { i0, i1, t };
}

/** Image → the model's flat C-major [C, H, W] input. */
export function preprocessImage(img: DecodedImage, shape: Shape3, pre: ImagePreprocessing = {}, fileName = 'image'): Float64Array {
  const [C, H, W] = shape;
  if (C !== 1 && C !== 3) throw badInput(fileName, `the model's input has ${C} channels; image files can feed models with 1 (grey) or 3 (colour) channels.`);
  const p = { ...DEFAULT_PREPROCESSING, ...pre };
  if (p.resize === 'none' && (img.width !== W || img.height !== H)) {
    throw badInput(fileName, `the image is ${img.width}×${img.height} but the model takes ${W}×${H} and preprocessing.resize is "none".`);
  }
  const per = (arr: number[] | undefined, dflt: number, what: string): number[] => {
    if (!arr) return new Array(C).fill(dflt);
    if (arr.length === 1) return new Array(C).fill(arr[0]);
    if (arr.length !== C) throw badInput(fileName, `preprocessing.${what} has ${arr.length} values but the model's input has ${C} channels.`);
    return arr;
  };
  const mean = per(pre.mean, 0, 'mean');
  const std = per(pre.std, 1, 'std');
  // Source channel (0 R, 1 G, 2 B) per output channel; grey mixes all three.
  const rgbIndex = p.channelOrder === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const grey = p.grayscale === 'luma' ? [0.299, 0.587, 0.114] : [1 / 3, 1 / 3, 1 / 3];
  const src = (x: number, y: number, c: number): number => {
    const o = (y * img.width + x) * 4;
    if (C === 1) return grey[0] * img.rgba[o] + grey[1] * img.rgba[o + 1] + grey[2] * img.rgba[o + 2];
    return img.rgba[o + rgbIndex[c]];
  };
  const ys = axisWeights(img.height, H);
  const xs = axisWeights(img.width, W);
  const scale = p.scale === '0..255' ? (v: number) => v : p.scale === '-1..1' ? (v: number) => v / 127.5 - 1 : (v: number) => v / 255;
  const out = new Float64Array(C * H * W);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const ty = ys.t[y];
      for (let x = 0; x < W; x++) {
        const tx = xs.t[x];
        const top = src(xs.i0[x], ys.i0[y], c) * (1 - tx) + src(xs.i1[x], ys.i0[y], c) * tx;
        const bottom = src(xs.i0[x], ys.i1[y], c) * (1 - tx) + src(xs.i1[x], ys.i1[y], c) * tx;
        const v = top * (1 - ty) + bottom * ty;
        out[c * H * W + y * W + x] = (scale(v) - mean[c]) / std[c];
      }
    }
  }
  return out;
}

/** Decode + preprocess in one call. */
export function imageToInput(bytes: Uint8Array, fileName: string, shape: Shape3, pre: ImagePreprocessing = {}): Float64Array {
  return preprocessImage(decodeImage(bytes, fileName), shape, pre, fileName);
}
