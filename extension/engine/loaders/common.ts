// Small helpers shared by the model loaders: display names for messages,
// the optional sidecar (`foo.dtd.json`) and safe number conversions.

import { DtdError } from '../errors';
import { preview } from '../budget';
import { asInputShape, escapeName, sidecarNameFor } from '../../protocol';
import type { Activation, OutputSelection, Shape3 } from '../network';

/** The file's base name, used in messages (the full path stays in DtdError.file). */
export function displayName(fileName: string): string {
  const parts = fileName.split(/[\\/]/);
  return parts[parts.length - 1] || fileName;
}

export function badModel(fileName: string, problem: string): DtdError {
  return new DtdError('bad-model', `${escapeName(displayName(fileName))}: ${problem}`, fileName);
}

export function unsupported(fileName: string, problem: string): DtdError {
  return new DtdError('unsupported', `${escapeName(displayName(fileName))}: ${problem}`, fileName);
}

export interface LoaderOptions {
  /** Parsed content of the sidecar `<model>.dtd.json`, if the caller found one. */
  sidecar?: unknown;
  /** Overrides the sidecar: whether the last layer has a ReLU (formats that cannot say so themselves). */
  finalActivation?: Activation;
  /**
   * Reads a file next to the model by its relative name (TF.js weight shards named in
   * model.json's weightsManifest). The loader refuses names that leave the model's folder;
   * the shells confine the read to it (engine/files.ts, the host's modelSource.ts).
   * undefined: there is no such file (the loader names it).
   */
  readSibling?: (name: string) => Uint8Array | undefined;
  /** The same, given up front: relative name → bytes (used before readSibling). */
  files?: Record<string, Uint8Array>;
  /** Bound on the bytes unpacked from a zip archive (.keras, .pt); default 10 × 200 MB. */
  maxUncompressedBytes?: number;
}

export interface SidecarSettings {
  finalActivation?: Activation;
  outputSelection?: OutputSelection | null;
  /** The input's [C, H, W]: a convolutional "layers" list starts from it; a stack of Linear layers reads it flattened (C-major). */
  inputShape?: Shape3;
}


/** Reads the settings a sidecar may give; a malformed sidecar is reported, not ignored. */
export function readSidecar(sidecar: unknown, modelFile: string): SidecarSettings {
  if (sidecar === undefined || sidecar === null) return {};
  const name = sidecarNameFor(modelFile);
  const fail = (problem: string) => new DtdError('bad-model', `${displayName(name)}: ${problem}`, name);
  if (typeof sidecar !== 'object' || Array.isArray(sidecar)) throw fail('the sidecar must be a JSON object.');
  const obj = sidecar as Record<string, unknown>;
  const out: SidecarSettings = {};
  const fa = obj.finalActivation ?? obj.final_activation;
  if (fa !== undefined && fa !== null) {
    if (fa !== 'relu' && fa !== 'linear') throw fail(`finalActivation must be "relu" or "linear", not ${JSON.stringify(fa)}.`);
    out.finalActivation = fa;
  }
  const sel = obj.outputSelection ?? obj.output_selection;
  if (sel === null) out.outputSelection = null;
  else if (sel !== undefined) out.outputSelection = parseOutputSelection(sel, (p) => fail(`outputSelection ${p}`));
  const shape = obj.inputShape ?? obj.input_shape;
  if (shape !== undefined && shape !== null) {
    const parsed = asInputShape(shape);
    if (!parsed) throw fail(`"inputShape" must be [C, H, W] of positive integers (got ${preview(shape)}).`);
    out.inputShape = parsed;
  }
  return out;
}

export function parseOutputSelection(sel: unknown, fail: (problem: string) => Error): OutputSelection {
  if (typeof sel !== 'object' || sel === null || Array.isArray(sel)) throw fail('must be an object {"start": i, "stop": j}.');
  const { start, stop } = sel as Record<string, unknown>;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(stop)) {
    throw fail(`needs integer "start" and "stop" (got ${JSON.stringify(sel)}).`);
  }
  return { start: start as number, stop: stop as number };
}

/** Product of dimensions, refusing anything that is not a small non-negative integer. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return Number.POSITIVE_INFINITY;
  }
  return n;
}

/** IEEE 754 half precision → number. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 → number: the upper half of a float32. */
export function bfloat16ToNumber(h: number, scratch: DataView): number {
  scratch.setUint32(0, (h & 0xffff) << 16, true);
  return scratch.getFloat32(0, true);
}
