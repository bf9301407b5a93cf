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
import { type KerasWeight, checkKerasLayers, kerasLayerChain, networkFromKerasLayers } from './kerasLayers';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

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
  const { layers } = kerasLayerChain(doc.modelTopology, fileName);
  checkKerasLayers(layers, fileName);
  const manifest = doc.weightsManifest;
  if (!Array.isArray(manifest)) throw badModel(fileName, '"weightsManifest" is not a list of weight groups.');

  // Read each group's shards, concatenated, and slice the weights out in order.
  const weights = new Map<string, KerasWeight>();
  const listed = new Map<string, number>(); // shard → times listed (LIMITS.shardRepetitions)
  let shardBytes = 0;
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
      if (w.quantization !== undefined) throw unsupported(fileName, `weight ${quoteName(w.name)} is quantized; DTD Lens reads float32 TensorFlow.js weights (convert without --quantize_*).`);
      const dtype = typeof w.dtype === 'string' ? w.dtype : 'float32';
      if (!(dtype in DTYPE_BYTES)) throw unsupported(fileName, `weight ${quoteName(w.name)} has dtype ${dtype}; DTD Lens reads float32.`);
      const n = shapeSize(w.shape as number[]);
      const bytes = n * DTYPE_BYTES[dtype];
      if (offset + bytes > data.length) {
        throw badModel(fileName, `weight ${quoteName(w.name)} ([${(w.shape as number[]).join(', ')}] ${dtype}) ends at byte ${offset + bytes} but the weight files of group ${g} hold ${data.length} bytes (truncated shard?).`);
      }
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) values[i] = dtype === 'float32' ? view.getFloat32(offset + 4 * i, true) : dtype === 'int32' ? view.getInt32(offset + 4 * i, true) : data[offset + i];
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
  return networkFromKerasLayers(layers, lookup, fileName, 'tfjs');
}
