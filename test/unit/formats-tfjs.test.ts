// TensorFlow.js Layers models (test/models/make-tfjs.ts): model.json + shard
// load through loadModel with the shards from opts.readSibling / opts.files;
// channels-last is converted to the IR's NCHW. Checked three ways: against the
// conv fixtures' JSON IR and forward.logits (the same network as ONNX and
// safetensors), against a slow channels-last loop forward written here from the
// model.json and the raw shard, and against TF.js's own predict().

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';
import { loadModel } from '../../extension/engine/loaders/index';
import type { Network } from '../../extension/engine/network';
import { assertClose, flat, referenceOutput } from './formats-helpers';
import { TFJS_FIXTURE_CASES } from '../models/make-tfjs';
import { expectDtdError } from '../helpers/errors';
import { SUPPORTED_KERAS_LAYERS } from '../../extension/engine/loaders/kerasLayers';
import { supportedText } from '../../extension/engine/loaders/builder';

const DIR = path.resolve(__dirname, '..', 'models', 'tfjs');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function load(name: string, extra: { files?: Record<string, Uint8Array> } = {}): Network {
  const dir = path.join(DIR, name);
  const file = path.join(dir, 'model.json');
  return loadModel(new Uint8Array(fs.readFileSync(file)), file, { readSibling: (rel) => new Uint8Array(fs.readFileSync(path.join(dir, rel))), ...extra });
}

const expectError = expectDtdError;

/**
 * Slow channels-last forward straight from model.json and the shard (float64), returning the
 * logits (a final softmax activation is not applied). Input x is NHWC [H][W][C] flattened.
 */
function nhwcForward(modelJson: Obj, bin: Uint8Array, x: number[]): number[] {
  const specs = modelJson.weightsManifest[0].weights as { name: string; shape: number[] }[];
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const weights = new Map<string, number[]>();
  let off = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    weights.set(s.name, Array.from({ length: n }, (_, i) => view.getFloat32(off + 4 * i, true)));
    off += 4 * n;
  }
  const layers = modelJson.modelTopology.config.layers as Obj[];
  const inShape = (layers[0].config.batch_input_shape ?? layers[0].config.batchInputShape) as number[];
  let [H, W, C] = inShape.slice(1);
  let a = x.slice();
  let isFlat = false;
  const at = (h: number, w: number, c: number) => a[(h * W + w) * C + c];
  const samePad = (n: number, k: number, s: number, d = 1) => {
    const out = Math.ceil(n / s);
    const total = Math.max((out - 1) * s + (k - 1) * d + 1 - n, 0);
    return [Math.floor(total / 2), out];
  };
  let pend = [0, 0, 0, 0]; // ZeroPadding2D: top, bottom, left, right
  for (const l of layers) {
    const c = l.config;
    const w = (v: string) => weights.get(`${c.name}/${v}`)!;
    switch (l.class_name) {
      case 'Conv2D': {
        // Apply a pending ZeroPadding2D by actually padding the data.
        if (pend.some((p) => p)) {
          const [pt, pb, pl, pr] = pend;
          const H2 = H + pt + pb;
          const W2 = W + pl + pr;
          const b = new Array(H2 * W2 * C).fill(0);
          for (let h = 0; h < H; h++) for (let x2 = 0; x2 < W; x2++) for (let ch = 0; ch < C; ch++) b[((h + pt) * W2 + x2 + pl) * C + ch] = at(h, x2, ch);
          a = b; H = H2; W = W2; pend = [0, 0, 0, 0];
        }
        const [kh, kw] = c.kernel_size;
        const [sh, sw] = c.strides;
        const [dh, dw] = c.dilation_rate;
        const O = c.filters;
        const K = w('kernel');
        const B = w('bias');
        const [ph, OH] = c.padding === 'same' ? samePad(H, kh, sh, dh) : [0, Math.floor((H - dh * (kh - 1) - 1) / sh) + 1];
        const [pw, OW] = c.padding === 'same' ? samePad(W, kw, sw, dw) : [0, Math.floor((W - dw * (kw - 1) - 1) / sw) + 1];
        const out = new Array(OH * OW * O).fill(0);
        for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) for (let o = 0; o < O; o++) {
          let s = B[o];
          for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) for (let ch = 0; ch < C; ch++) {
            const y = i * sh + u * dh - ph;
            const xx = j * sw + v * dw - pw;
            if (y >= 0 && y < H && xx >= 0 && xx < W) s += K[((u * kw + v) * C + ch) * O + o] * at(y, xx, ch);
          }
          out[(i * OW + j) * O + o] = c.activation === 'relu' ? Math.max(s, 0) : s;
        }
        a = out; H = OH; W = OW; C = O;
        break;
      }
      case 'ZeroPadding2D':
        pend = [c.padding[0][0], c.padding[0][1], c.padding[1][0], c.padding[1][1]];
        break;
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const [kh, kw] = c.pool_size;
        const [sh, sw] = c.strides ?? c.pool_size;
        const [ph, OH] = c.padding === 'same' ? samePad(H, kh, sh) : [0, Math.floor((H - kh) / sh) + 1];
        const [pw, OW] = c.padding === 'same' ? samePad(W, kw, sw) : [0, Math.floor((W - kw) / sw) + 1];
        const out = new Array(OH * OW * C).fill(0);
        for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) for (let ch = 0; ch < C; ch++) {
          let best = -Infinity;
          let sum = 0;
          for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
            const y = i * sh + u - ph;
            const xx = j * sw + v - pw;
            if (y >= 0 && y < H && xx >= 0 && xx < W) { best = Math.max(best, at(y, xx, ch)); sum += at(y, xx, ch); }
          }
          out[(i * OW + j) * C + ch] = l.class_name === 'MaxPooling2D' ? best : sum / (kh * kw);
        }
        a = out; H = OH; W = OW;
        break;
      }
      case 'GlobalAveragePooling2D': {
        const out = new Array(C).fill(0);
        for (let h = 0; h < H; h++) for (let x2 = 0; x2 < W; x2++) for (let ch = 0; ch < C; ch++) out[ch] += at(h, x2, ch) / (H * W);
        a = out; isFlat = true;
        break;
      }
      case 'Flatten':
        isFlat = true; // NHWC order kept, as Keras does
        break;
      case 'Dense': {
        assert.ok(isFlat);
        const K = w('kernel');
        const B = w('bias');
        const out = new Array(c.units).fill(0).map((_, o) => B[o] + a.reduce((s, v, r) => s + K[r * c.units + o] * v, 0));
        a = c.activation === 'relu' ? out.map((v) => Math.max(v, 0)) : out;
        break;
      }
      case 'BatchNormalization': {
        const [g, b, m, v] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map(w);
        const n = g.length;
        a = a.map((val, i) => ((val - m[i % n]) / Math.sqrt(v[i % n] + c.epsilon)) * g[i % n] + b[i % n]);
        break;
      }
      case 'Activation':
        if (c.activation === 'relu') a = a.map((v) => Math.max(v, 0));
        break;
      case 'InputLayer':
      case 'Dropout':
        break;
      default:
        throw new Error(`test forward: ${l.class_name}`);
    }
  }
  return a;
}

/** [C][H][W] flat → [H][W][C] flat. */
function toNhwc(x: number[], [C, H, W]: number[]): number[] {
  const out = new Array(x.length);
  for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) out[(h * W + w) * C + c] = x[c * H * W + h * W + w];
  return out;
}

for (const name of TFJS_FIXTURE_CASES) {
  test(`TF.js ${name}: the same IR as the fixture JSON / ONNX, forward.logits, and the channels-last loop forward`, () => {
    const fx = JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${name}.json`), 'utf8'));
    const net = load(name);
    const fromJson = loadModel(new Uint8Array(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${name}.json`))), `${name}.json`);
    const fromOnnx = loadModel(new Uint8Array(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${name}.onnx`))), `${name}.onnx`);
    assert.equal(net.source.format, 'tfjs');
    assert.deepEqual(net.inputShape, fx.input.shape.slice(1));
    const strip = (n: Network) => n.layers.map(({ name: _n, ...rest }) => rest);
    // HWIO → OIHW and the NHWC → C-major Dense permutation give back the PyTorch weights exactly.
    assert.deepEqual(strip(net), strip(fromJson));
    assert.deepEqual(strip(net), strip(fromOnnx));
    const x = flat(fx.input.x);
    assertClose(referenceOutput(net, x), fx.forward.logits, 1e-9, `${name} logits`);
    const modelJson = JSON.parse(fs.readFileSync(path.join(DIR, name, 'model.json'), 'utf8'));
    const bin = new Uint8Array(fs.readFileSync(path.join(DIR, name, 'group1-shard1of1.bin')));
    assertClose(nhwcForward(modelJson, bin, toNhwc(x, fx.input.shape.slice(1))), fx.forward.logits, 1e-9, `${name} channels-last loop`);
    assert.ok(net.notes.some((n) => n.includes('channels-last; DTD Lens reads inputs channels-first as [C, H, W]')));
    if (name.includes('softmax')) assert.ok(net.notes.some((n) => n.includes("Softmax 'dense_8' at the output removed")), net.notes.join('\n'));
  });
}

test('TF.js mixed model (same-padded stride-2 conv, ZeroPadding2D, same max pooling, Dense + BN, softmax): loop forward and TF.js predict', async () => {
  const net = load('mixed');
  assert.deepEqual(net.inputShape, [2, 7, 7]);
  assert.deepEqual(net.layers.map((l) => l.kind), ['conv2d', 'conv2d', 'maxpool2d', 'dense', 'dense']);
  const [c1, c2, mp] = net.layers;
  assert.ok(c1.kind === 'conv2d' && c2.kind === 'conv2d' && mp.kind === 'maxpool2d');
  assert.deepEqual(c1.padding, [1, 1, 1, 1]); // 7, k3, s2: out 4, total pad 2
  assert.deepEqual(c2.padding, [1, 0, 0, 1]); // ZeroPadding2D ((1,0),(0,1)) merged
  assert.deepEqual(mp.padding, [0, 0, 1, 1]); // same, k2 s1: the extra pixel at the end
  const modelJson = JSON.parse(fs.readFileSync(path.join(DIR, 'mixed', 'model.json'), 'utf8'));
  const bin = new Uint8Array(fs.readFileSync(path.join(DIR, 'mixed', 'group1-shard1of1.bin')));
  let s = 3;
  const x = Array.from({ length: 98 }, () => ((s = (s * 69069 + 1) >>> 0) / 2 ** 32));
  const logits = referenceOutput(net, x);
  assertClose(logits, nhwcForward(modelJson, bin, toNhwc(x, [2, 7, 7])), 1e-12, 'mixed vs channels-last loop');
  // TF.js itself (float32) gives the softmax of these logits.
  await tf.setBackend('cpu');
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0].weights, weightData: bin.slice().buffer }));
  const probs = Array.from((model.predict(tf.tensor(toNhwc(x, [2, 7, 7]), [1, 7, 7, 2])) as tf.Tensor).dataSync());
  const m = Math.max(...logits);
  const e = Array.from(logits, (v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  assertClose(probs, e.map((v) => v / z), 1e-5, 'TF.js predict vs softmax(IR logits)');
  assert.ok(Math.max(...logits) - Math.min(...logits) > 0.01, 'the logits differ from each other');
});

test('TF.js: shards from opts.files; a missing shard, a shard outside the folder and a truncated shard', () => {
  const dir = path.join(DIR, 'mixed');
  const json = new Uint8Array(fs.readFileSync(path.join(dir, 'model.json')));
  const bin = new Uint8Array(fs.readFileSync(path.join(dir, 'group1-shard1of1.bin')));
  assert.equal(loadModel(json, 'model.json', { files: { 'group1-shard1of1.bin': bin } }).layers.length, 5);
  expectError(() => loadModel(json, 'model.json'), 'bad-model', "model.json: needs its weight file 'group1-shard1of1.bin' next to it");
  expectError(() => loadModel(json, 'model.json', { files: { 'group1-shard1of1.bin': bin.slice(0, 100) } }), 'bad-model', 'truncated shard?');
  for (const evil of ['../secret.bin', '/etc/passwd', 'https://example.com/w.bin', 'a/../../b.bin', '..\\x.bin']) {
    const doc = JSON.parse(new TextDecoder().decode(json));
    doc.weightsManifest[0].paths = [evil];
    let asked = false;
    expectError(() => loadModel(new TextEncoder().encode(JSON.stringify(doc)), 'model.json', { readSibling: () => ((asked = true), bin) }), 'bad-model', `names the weight file '${evil}', which is not inside the model's folder`);
    assert.equal(asked, false, 'the file is never read');
  }
});

test('TF.js: every unsupported layer and activation listed at once; graph models refused', () => {
  const doc = JSON.parse(fs.readFileSync(path.join(DIR, 'mixed', 'model.json'), 'utf8'));
  const layers = doc.modelTopology.config.layers;
  layers[2].config.activation = 'selu';
  layers.splice(8, 0, { class_name: 'LSTM', config: { name: 'rnn', units: 4 } });
  layers.find((l: Obj) => l.config.name === 'd1').config.activation = 'softmax';
  const message = expectError(() => loadModel(new TextEncoder().encode(JSON.stringify(doc)), 'model.json', { files: {} }), 'unsupported');
  assert.equal(message, `model.json: layer 'a1' (Activation) with activation 'selu', layer 'rnn' (LSTM) and layer 'd1' (Dense) with activation 'softmax' before the last layer, which DTD Lens does not support yet (supported: ${supportedText(SUPPORTED_KERAS_LAYERS)}).`);
  expectError(() => loadModel(new TextEncoder().encode(JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] })), 'graph.json'), 'unsupported', 'is a TensorFlow.js graph model');
});
