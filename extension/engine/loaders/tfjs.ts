// Loader for TensorFlow.js Layers models: `model.json` ({modelTopology,
// weightsManifest, format: "layers-model"}) plus the binary weight shards it
// names. loadModel sees only model.json's bytes, so the shards come from
// opts.files or opts.readSibling (the shell reads them next to model.json);
// shard paths must stay inside the model's folder ("../", absolute paths and
// URLs are refused). Layers are turned into the IR by kerasLayers.ts
// (channels-last → NCHW).

import type { Network } from '../network';
import { LoaderOptions, badModel, shapeSize, unsupported } from './common';
import { LIMITS, quoteName } from '../../protocol';
import { type KerasWeight, checkKerasModel, kerasModelOf, networkFromKerasModel } from './kerasLayers';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };
/** Bytes per stored value of a quantized weight (tensorflowjs_converter --quantize_uint8 / _uint16 / _float16). */
const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

/** IEEE 754 half precision → number (exact). */
export function float16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** True for a TF.js model.json (Layers or graph model). */
export function isTfjsModelJson(doc: unknown): boolean {
  return isObj(doc) && ('modelTopology' in doc || doc.format === 'layers-model' || doc.format === 'graph-model') && 'weightsManifest' in doc;
}

/** Refuses shard paths that could leave the model's folder. */
export function safeRelativePath(p: string, fileName: string): string {
  if (!p || /^[a-z][a-z0-9+.-]*:/i.test(p) || p.startsWith('/') || p.startsWith('\\') || p.split(/[\\/]/).some((s) => s === '..')) {
    throw badModel(fileName, `names the weight file ${quoteName(p)}, which is not inside the model's folder; DTD Lens reads only files next to model.json (no "../", absolute paths or URLs).`);
  }
  return p.replace(/^\.\//, '');
}

export function loadTfjsModel(doc: Obj, fileName: string, opts: LoaderOptions = {}): Network {
  if (doc.format === 'graph-model' || (isObj(doc.modelTopology) && 'node' in doc.modelTopology)) {
    throw unsupported(fileName, 'is a TensorFlow.js graph model (a frozen TensorFlow graph); DTD Lens reads TensorFlow.js Layers models (format "layers-model", saved by model.save() or tensorflowjs_converter --output_format tfjs_layers_model).');
  }
  const model = kerasModelOf(doc.modelTopology, fileName);
  checkKerasModel(model, fileName);
  const manifest = doc.weightsManifest;
  if (!Array.isArray(manifest)) throw badModel(fileName, '"weightsManifest" is not a list of weight groups.');

  // Read each group's shards, concatenated, and slice the weights out in order.
  const weights = new Map<string, KerasWeight>();
  const listed = new Map<string, number>(); // shard → times listed (LIMITS.shardRepetitions)
  let shardBytes = 0;
  const quantized = new Map<string, number>(); // quantization dtype → weights
  for (const [g, group] of manifest.entries()) {
    if (!isObj(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) throw badModel(fileName, `weightsManifest[${g}] needs "paths" and "weights".`);
    const shards = group.paths.map((p) => {
      if (typeof p !== 'string') throw badModel(fileName, `weightsManifest[${g}] has a non-string path.`);
      const rel = safeRelativePath(p, fileName);
      const times = (listed.get(rel) ?? 0) + 1;
      listed.set(rel, times);
      if (times > LIMITS.shardRepetitions) throw badModel(fileName, `lists the weight file ${quoteName(rel)} more than ${LIMITS.shardRepetitions === 1 ? 'once' : `${LIMITS.shardRepetitions} times`} in its weightsManifest; refused (hostile or corrupt).`);
      const bytes = opts.files?.[rel] ?? opts.files?.[p] ?? opts.readSibling?.(rel);
      if (!bytes) throw badModel(fileName, `needs its weight file ${quoteName(rel)} next to it, which was not provided or could not be read.`);
      return bytes;
    });
    const total = shards.reduce((a, s) => a + s.length, 0);
    shardBytes += total;
    if (shardBytes > LIMITS.uncompressedBytes) throw badModel(fileName, `its weight files hold more than ${LIMITS.uncompressedBytes / 1024 / 1024} MB; refused.`);
    const data = new Uint8Array(total);
    let o = 0;
    for (const s of shards) {
      data.set(s, o);
      o += s.length;
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let offset = 0;
    for (const w of group.weights) {
      if (!isObj(w) || typeof w.name !== 'string' || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw badModel(fileName, `weightsManifest[${g}] has a malformed weight entry ${JSON.stringify(w).slice(0, 80)}.`);
      }
      const dtype = typeof w.dtype === 'string' ? w.dtype : 'float32';
      const n = shapeSize(w.shape as number[]);
      const q = w.quantization;
      let values: Float64Array;
      let bytes: number;
      if (q !== undefined) {
        // value = q·scale + min (uint8/uint16, TF.js keeps it in float32), or a float16 (tfjs-core io_utils decodeWeight).
        const qd = isObj(q) && typeof q.dtype === 'string' ? q.dtype : '';
        if (!(qd in QUANTIZED_BYTES)) throw unsupported(fileName, `weight ${quoteName(w.name)} is quantized as ${JSON.stringify(isObj(q) ? q.dtype : q)}; DTD Lens reads uint8, uint16 and float16 quantization.`);
        if (dtype !== 'float32' && !(dtype === 'int32' && qd !== 'float16')) throw badModel(fileName, `weight ${quoteName(w.name)} of dtype ${dtype} cannot be quantized as ${qd}.`);
        const scale = (q as Obj).scale, min = (q as Obj).min;
        if (qd !== 'float16' && !(typeof scale === 'number' && Number.isFinite(scale) && typeof min === 'number' && Number.isFinite(min))) {
          throw badModel(fileName, `weight ${quoteName(w.name)} is quantized as ${qd} without a finite "scale" and "min".`);
        }
        bytes = n * QUANTIZED_BYTES[qd];
        if (offset + bytes > data.length) {
          throw badModel(fileName, `weight ${quoteName(w.name)} ([${(w.shape as number[]).join(', ')}] quantized ${qd}) ends at byte ${offset + bytes} but the weight files of group ${g} hold ${data.length} bytes (truncated shard?).`);
        }
        values = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const v = qd === 'uint8' ? data[offset + i] : view.getUint16(offset + 2 * i, true);
          if (qd === 'float16') values[i] = float16ToNumber(v);
          else values[i] = dtype === 'int32' ? Math.round(v * (scale as number) + (min as number)) : Math.fround(v * (scale as number) + (min as number));
        }
        quantized.set(qd, (quantized.get(qd) ?? 0) + 1);
      } else {
        if (!(dtype in DTYPE_BYTES)) throw unsupported(fileName, `weight ${quoteName(w.name)} has dtype ${dtype}; DTD Lens reads float32.`);
        bytes = n * DTYPE_BYTES[dtype];
        if (offset + bytes > data.length) {
          throw badModel(fileName, `weight ${quoteName(w.name)} ([${(w.shape as number[]).join(', ')}] ${dtype}) ends at byte ${offset + bytes} but the weight files of group ${g} hold ${data.length} bytes (truncated shard?).`);
        }
        values = new Float64Array(n);
        for (let i = 0; i < n; i++) values[i] = dtype === 'float32' ? view.getFloat32(offset + 4 * i, true) : dtype === 'int32' ? view.getInt32(offset + 4 * i, true) : data[offset + i];
      }
      weights.set(w.name, { shape: w.shape as number[], values });
      offset += bytes;
    }
    if (offset !== data.length) throw badModel(fileName, `the weight files of group ${g} hold ${data.length} bytes but the manifest describes ${offset}.`);
  }
  const lookup = (layer: string, variable: string): KerasWeight | undefined => {
    const exact = weights.get(`${layer}/${variable}`);
    if (exact) return exact;
    // Names may carry scopes (model/layer/kernel) or a ":0" suffix.
    for (const [name, w] of weights) {
      const clean = name.replace(/:\d+$/, '');
      if (clean.endsWith(`/${layer}/${variable}`)) return w;
    }
    return undefined;
  };
  const net = networkFromKerasModel(model, lookup, fileName, 'tfjs');
  for (const [qd, count] of quantized) {
    net.notes.push(`${count} weight${count === 1 ? ' is' : 's are'} stored quantized as ${qd}${qd === 'float16' ? '' : ' (value = q·scale + min)'}; DTD Lens explains the dequantized weights, as TensorFlow.js computes with them.`);
  }
  return net;
}
