// Writes TensorFlow.js Layers models (model.json + group1-shard1of1.bin) with
// @tensorflow/tfjs in Node (no tfjs-node: model.save() with a custom IOHandler
// that captures the artifacts):
//   * the conv fixtures cnn3x10_bn_gap_seed2 and cnn3x10_stride2_softmax_seed3
//     rebuilt channels-last from their PyTorch parameters (OIHW → HWIO kernels,
//     Linear rows after a Flatten permuted from C-major to NHWC order), so the
//     same network exists as ONNX, safetensors + sidecar and TF.js;
//   * "mixed": same-padded stride-2 Conv2D, ZeroPadding2D, same-padded max pooling,
//     Activation and Dropout layers, BatchNormalization after a Dense, softmax.
// Run: node --import tsx test/models/make-tfjs.ts → test/models/tfjs/<name>/

import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';

type Fixture = {
  input: { shape: number[] };
  network: { layers: { type: string; name: string; stride?: number[]; padding?: number[]; kernel_size?: number[]; output_shape: number[]; input_shape: number[]; eps?: number }[]; parameters: Record<string, { shape: number[]; values: unknown }> };
};

const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);

/** A tf.Sequential with the fixture's weights, channels-last. */
export function tfjsFromFixture(fx: Fixture): tf.Sequential {
  const [, C, H, W] = fx.input.shape;
  const m = tf.sequential();
  const p = fx.network.parameters;
  const layers = fx.network.layers;
  let first = true;
  const input = () => (first ? ((first = false), { inputShape: [H, W, C] }) : {});
  let flattened: number[] | null = null;
  layers.forEach((l, i) => {
    const next = layers[i + 1];
    const relu = next?.type === 'ReLU';
    switch (l.type) {
      case 'Conv2d': {
        const w = p[`${l.name}.weight`];
        const [O, I, kh, kw] = w.shape;
        const v = flat(w.values);
        const hwio = new Float32Array(O * I * kh * kw);
        for (let o = 0; o < O; o++) for (let c = 0; c < I; c++) for (let u = 0; u < kh; u++) for (let x = 0; x < kw; x++) hwio[((u * kw + x) * I + c) * O + o] = v[((o * I + c) * kh + u) * kw + x];
        const pad = l.padding![0];
        if (pad !== 0 && !(l.stride![0] === 1 && 2 * pad === kh - 1)) throw new Error(`padding ${pad} has no Keras equivalent here`);
        const conv = tf.layers.conv2d({ ...input(), filters: O, kernelSize: [kh, kw], strides: l.stride as [number, number], padding: pad ? 'same' : 'valid', activation: relu && layers[i + 1].type === 'ReLU' ? 'relu' : 'linear', name: `conv_${l.name}` });
        m.add(conv);
        conv.setWeights([tf.tensor(hwio, [kh, kw, I, O]), tf.tensor(flat(p[`${l.name}.bias`].values), [O])]);
        break;
      }
      case 'BatchNorm2d': {
        const bn = tf.layers.batchNormalization({ epsilon: l.eps, name: `bn_${l.name}` });
        m.add(bn);
        bn.setWeights(['weight', 'bias', 'running_mean', 'running_var'].map((k) => tf.tensor(flat(p[`${l.name}.${k}`].values))));
        if (relu) m.add(tf.layers.activation({ activation: 'relu', name: `relu_${next.name}` }));
        break;
      }
      case 'ReLU':
        break;
      case 'MaxPool2d':
        m.add(tf.layers.maxPooling2d({ poolSize: l.kernel_size as [number, number], name: `pool_${l.name}` }));
        break;
      case 'AvgPool2d':
        m.add(tf.layers.averagePooling2d({ poolSize: l.kernel_size as [number, number], name: `pool_${l.name}` }));
        break;
      case 'AdaptiveAvgPool2d':
        m.add(tf.layers.globalAveragePooling2d({ name: `gap_${l.name}` }));
        break;
      case 'Flatten':
        if (layers[i - 1]?.type === 'AdaptiveAvgPool2d') break; // Keras' global pooling is flat already
        flattened = l.input_shape.slice(1);
        m.add(tf.layers.flatten({ name: `flatten_${l.name}` }));
        break;
      case 'Linear': {
        const w = p[`${l.name}.weight`];
        const [O, I] = w.shape;
        const v = flat(w.values);
        const kernel = new Float32Array(I * O);
        for (let o = 0; o < O; o++) {
          for (let j = 0; j < I; j++) {
            let r = j; // Keras feature index for the IR (C-major) feature j
            if (flattened && flattened.length === 3) {
              const [fc, fh, fw] = flattened;
              const c = Math.floor(j / (fh * fw));
              const h = Math.floor(j / fw) % fh;
              const x = j % fw;
              r = (h * fw + x) * fc + c;
            }
            kernel[r * O + o] = v[o * I + j];
          }
        }
        flattened = null;
        const last = layers[i + 1]?.type === 'Softmax';
        const dense = tf.layers.dense({ units: O, activation: relu ? 'relu' : last ? 'softmax' : 'linear', name: `dense_${l.name}` });
        m.add(dense);
        dense.setWeights([tf.tensor(kernel, [I, O]), tf.tensor(flat(p[`${l.name}.bias`].values), [O])]);
        break;
      }
      case 'Softmax':
        break;
      default:
        throw new Error(`no TF.js layer for ${l.type}`);
    }
  });
  return m;
}

/** Deterministic values in (−scale, scale). */
function det(n: number, seed: number, scale = 0.5): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}

export function mixedModel(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.inputLayer({ inputShape: [7, 7, 2], name: 'pixels' }));
  m.add(tf.layers.conv2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', name: 'c1' }));
  m.add(tf.layers.activation({ activation: 'relu', name: 'a1' }));
  m.add(tf.layers.zeroPadding2d({ padding: [[1, 0], [0, 1]], name: 'zp' }));
  m.add(tf.layers.conv2d({ filters: 4, kernelSize: 2, activation: 'relu', name: 'c2' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same', name: 'mp' }));
  m.add(tf.layers.dropout({ rate: 0.3, name: 'drop' }));
  m.add(tf.layers.flatten({ name: 'fl' }));
  m.add(tf.layers.dense({ units: 5, name: 'd1' }));
  m.add(tf.layers.batchNormalization({ epsilon: 0.01, name: 'bn' }));
  m.add(tf.layers.activation({ activation: 'relu', name: 'a2' }));
  m.add(tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }));
  m.layers.forEach((layer, li) => {
    layer.setWeights(layer.getWeights().map((w, wi) => {
      const v = det(w.size, 100 * li + wi + 1, 0.6);
      if (layer.name === 'bn' && wi === 3) return tf.tensor(v.map((x) => Math.abs(x) + 0.5), w.shape); // variance > 0
      return tf.tensor(v, w.shape);
    }));
  });
  return m;
}

/** model.json text and the single shard, as model.save() produces them. */
export async function saveArtifacts(m: tf.LayersModel): Promise<{ modelJson: string; bin: Uint8Array }> {
  let art: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => {
    art = a;
    return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
  }));
  const a = art!;
  const data = a.weightData as ArrayBuffer;
  const modelJson = JSON.stringify({
    format: 'layers-model', generatedBy: a.generatedBy, convertedBy: null, modelTopology: a.modelTopology,
    weightsManifest: [{ paths: ['./group1-shard1of1.bin'], weights: a.weightSpecs }],
  }, null, 1);
  return { modelJson, bin: new Uint8Array(data) };
}

export const TFJS_FIXTURE_CASES = ['cnn3x10_bn_gap_seed2', 'cnn3x10_stride2_softmax_seed3'];

if (require.main === module) {
  (async () => {
    await tf.setBackend('cpu');
    const targets: [string, tf.Sequential][] = TFJS_FIXTURE_CASES.map((c) => [c, tfjsFromFixture(JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${c}.json`), 'utf8')))]);
    targets.push(['mixed', mixedModel()]);
    for (const [name, m] of targets) {
      const dir = path.join(__dirname, 'tfjs', name);
      fs.mkdirSync(dir, { recursive: true });
      const { modelJson, bin } = await saveArtifacts(m);
      fs.writeFileSync(path.join(dir, 'model.json'), `${modelJson}\n`);
      fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), bin);
      console.log(`wrote test/models/tfjs/${name}/ (${bin.length} weight bytes)`);
    }
  })();
}
