// Keras .h5 / .keras and TensorFlow.js files in the layouts real users have
// (tools/real-models/make_keras.py: Keras 2.1, 2.2 and 2.4 .h5 with NUL-padded
// fixed-length names, an HDF5 file named .keras, tensorflowjs_converter output
// in float32, uint8 and float16). DTD Lens' forward pass must give the stored
// PyTorch reference output, and TensorFlow.js itself (a Keras implementation)
// must agree with that reference on the TF.js copies.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../extension/engine/loaders/index';
import { outputs } from '../../extension/engine/forward';
import { type Network, layerInputs } from '../../extension/engine/network';
import { expectDtdError } from '../helpers/errors';

const REAL = path.resolve(__dirname, '..', 'fixtures', 'real');
const KERAS = path.join(REAL, 'keras');
const TFJS = path.join(REAL, 'tfjs');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Expected { input_keras: unknown; input_chw_flat: number[]; logits: number[]; probabilities: number[]; how: string }

const bytes = (p: string) => new Uint8Array(fs.readFileSync(p));
const expected = (p: string): Expected => JSON.parse(fs.readFileSync(p, 'utf8'));

function loadTfjs(name: string, patch?: (doc: Obj) => void, bin?: (b: Uint8Array) => Uint8Array): Network {
  const dir = path.join(TFJS, name);
  const doc = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  patch?.(doc);
  return loadModel(new TextEncoder().encode(JSON.stringify(doc)), 'model.json', { readSibling: (n) => (bin ?? ((b) => b))(bytes(path.join(dir, n))) });
}

function assertOutputs(net: Network, e: Expected, what: string): void {
  const y = outputs(net, e.input_chw_flat);
  assert.equal(y.length, e.logits.length, `${what}: output size`);
  const err = Math.max(...e.logits.map((v, i) => Math.abs(v - y[i])));
  assert.ok(err <= 1e-5, `${what}: max |DTD Lens − PyTorch| = ${err}`);
}

const H5_CASES: { file: string; layers: string; notes: (string | RegExp)[] }[] = [
  {
    file: 'mnist_mlp_keras24.h5', layers: 'dense:dense/relu dense_1:dense/linear',
    notes: ["The input [28, 28] has no channel axis: DTD Lens reads it as a one-channel 28×28 image [1, 28, 28]"],
  },
  {
    file: 'mnist_mlp_keras24_hdf5.keras', layers: 'dense:dense/relu dense_1:dense/linear',
    notes: ['This .keras file is an HDF5 file, not a Keras 3 zip archive: read as a legacy Keras .h5 model', 'has no channel axis'],
  },
  {
    file: 'small_cnn_keras22.h5', layers: 'conv2d_1:conv2d/relu max_pooling2d_1:maxpool2d/linear dense_1:dense/linear',
    notes: ["BatchNormalization 'batch_normalization_1' folded into 'conv2d_1'", "Softmax 'dense_1' at the output removed: DTD Lens explains the logit before it, not the probability.", 'Keras models are channels-last'],
  },
  {
    file: 'functional_blocks_keras24.h5',
    layers: 'conv2d:conv2d/clip depthwise_conv2d:conv2d/leakyrelu separable_conv2d/depthwise:conv2d/linear separable_conv2d:conv2d/linear add:add/linear concatenate:concat/linear conv2d_1:conv2d/relu max_pooling2d:maxpool2d/linear dense:dense/relu conv2d_2:conv2d/leakyrelu global_average_pooling2d:avgpool2d/linear dense_1:dense/linear',
    notes: ["BatchNormalization 'batch_normalization' folded into 'conv2d'", "SeparableConv2D 'separable_conv2d' is shown as two layers", "Reshape 'reshape' to channels-last [4, 4, 3]: the output units of Dense 'dense' were reordered"],
  },
  {
    file: 'binary_mlp_keras21_list.h5', layers: 'dense_1:dense/relu dense_2:dense/tanh dense_3:dense/linear',
    notes: ["Sigmoid 'dense_3' at the output removed: DTD Lens explains the logit before it, not the probability."],
  },
];

for (const c of H5_CASES) {
  test(`Keras ${c.file}: loads, its layers and notes, and the forward pass matches PyTorch (1e-5)`, () => {
    const file = path.join(KERAS, c.file);
    const net = loadModel(bytes(file), c.file);
    assert.equal(net.layers.map((l) => `${l.name}:${l.kind}/${l.activation}`).join(' '), c.layers);
    for (const n of c.notes) assert.ok(net.notes.some((x) => (typeof n === 'string' ? x.includes(n) : n.test(x))), `note ${String(n)} in ${JSON.stringify(net.notes)}`);
    assertOutputs(net, expected(file.replace(/\.(h5|keras)$/, '.expected.json')), c.file);
  });
}

test('Keras ≤ 2.4 .h5: the names are fixed-length NUL-padded byte strings in the file, and are read without the NULs', () => {
  const raw = Buffer.from(bytes(path.join(KERAS, 'mnist_mlp_keras24.h5')));
  assert.ok(raw.indexOf(Buffer.from('dense/bias:0\0\0', 'latin1')) >= 0, 'weight_names holds "dense/bias:0" padded to the length of "dense/kernel:0"');
  assert.ok(raw.indexOf(Buffer.from('dense\0\0\0', 'latin1')) >= 0, 'layer_names holds "dense" NUL-padded');
  const net = loadModel(bytes(path.join(KERAS, 'mnist_mlp_keras24.h5')), 'm.h5');
  assert.equal((net.layers[0] as Obj).bias.length, 128);
});

test('Keras functional graph: the DAG reads the right tensors (residual add, channel concat, depthwise groups)', () => {
  const net = loadModel(bytes(path.join(KERAS, 'functional_blocks_keras24.h5')), 'f.h5');
  const byName = new Map(net.layers.map((l, i) => [l.name, { l, t: i + 1 }]));
  const t = (n: string) => byName.get(n)!.t;
  const reads = (n: string) => layerInputs(net, t(n));
  assert.deepEqual(reads('add'), [t('conv2d'), t('separable_conv2d')]);
  assert.deepEqual(reads('concatenate'), [t('add'), t('depthwise_conv2d')]);
  assert.deepEqual(reads('depthwise_conv2d'), [t('conv2d')]);
  assert.deepEqual(reads('separable_conv2d/depthwise'), [t('conv2d')]);
  assert.equal((byName.get('depthwise_conv2d')!.l as Obj).groups, 8);
  assert.deepEqual((byName.get('conv2d')!.l as Obj).activationParams, { min: 0, max: 6 });
  assert.deepEqual((byName.get('conv2d')!.l as Obj).padding, [1, 1, 1, 1], 'ZeroPadding2D(1) merged into the valid conv');
  assert.deepEqual(net.inputShape, [3, 10, 10]);
});

for (const name of ['mnist_mlp', 'functional_blocks', 'binary_mlp_list', 'small_cnn_uint8', 'binary_mlp_float16']) {
  test(`TF.js ${name}: DTD Lens matches PyTorch (1e-5), and TensorFlow.js predict() agrees with the same reference`, async () => {
    const dir = path.join(TFJS, name);
    const e = expected(path.join(dir, 'expected.json'));
    const net = loadTfjs(name);
    assertOutputs(net, e, name);
    const doc = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const bin = bytes(path.join(dir, 'group1-shard1of1.bin'));
    const m = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: doc.modelTopology, weightSpecs: doc.weightsManifest[0].weights, weightData: bin.slice().buffer }));
    const y = tf.tidy(() => (m.predict(tf.tensor(e.input_keras as number[]).expandDims(0)) as tf.Tensor).dataSync());
    const lastActivation = doc.modelTopology.model_config.class_name === 'Sequential' ? [doc.modelTopology.model_config.config].flat().flatMap((c: Obj) => c.layers ?? c).at(-1).config.activation : 'linear';
    const ref = lastActivation === 'linear' ? e.logits : e.probabilities;
    const err = Math.max(...ref.map((v, i) => Math.abs(v - y[i])));
    assert.ok(err <= 1e-5, `TF.js predict vs PyTorch: ${err}`);
    m.dispose();
  });
}

test('TF.js quantized weights: the manifest layout, the notes, and size checks', () => {
  const doc = JSON.parse(fs.readFileSync(path.join(TFJS, 'small_cnn_uint8', 'model.json'), 'utf8'));
  const q = doc.weightsManifest[0].weights[0].quantization;
  assert.equal(q.dtype, 'uint8');
  assert.equal(q.original_dtype, 'float32');
  assert.ok(Number.isFinite(q.scale) && Number.isFinite(q.min));
  const net = loadTfjs('small_cnn_uint8');
  assert.ok(net.notes.includes('8 weights are stored quantized as uint8 (value = q·scale + min); DTD Lens explains the dequantized weights, as TensorFlow.js computes with them.'), JSON.stringify(net.notes));
  assert.ok(loadTfjs('binary_mlp_float16').notes.some((n) => n.startsWith('6 weights are stored quantized as float16')));
  expectDtdError(() => loadTfjs('small_cnn_uint8', undefined, (b) => b.slice(0, b.length - 3)), 'bad-model', 'quantized uint8', 'truncated shard?');
  expectDtdError(() => loadTfjs('small_cnn_uint8', undefined, (b) => Uint8Array.from([...b, 0])), 'bad-model', 'hold 2267 bytes but the manifest describes 2266');
  expectDtdError(() => loadTfjs('small_cnn_uint8', (d) => delete d.weightsManifest[0].weights[0].quantization.scale), 'bad-model', 'without a finite "scale" and "min"');
  expectDtdError(() => loadTfjs('small_cnn_uint8', (d) => (d.weightsManifest[0].weights[0].quantization.dtype = 'int4')), 'unsupported', 'is quantized as "int4"');
});

test('Keras: what cannot be represented is refused clearly (Dense on [H, W], Conv1D, a Reshape that reorders, shared layers, padding before a Dense)', () => {
  const tfjsDoc = (name: string) => JSON.parse(fs.readFileSync(path.join(TFJS, name, 'model.json'), 'utf8'));
  const load = (doc: Obj) => () => loadModel(new TextEncoder().encode(JSON.stringify(doc)), 'model.json', { files: {} });
  // The tutorial without its Flatten: Dense reads [28, 28] and would apply per row.
  const noFlatten = tfjsDoc('mnist_mlp');
  noFlatten.modelTopology.model_config.config.layers.splice(1, 1);
  noFlatten.modelTopology.model_config.config.layers[1].config.batch_input_shape = [null, 28, 28];
  expectDtdError(() => loadModel(new TextEncoder().encode(JSON.stringify(noFlatten)), 'model.json', { readSibling: (n) => bytes(path.join(TFJS, 'mnist_mlp', n)) }), 'unsupported', "Dense 'dense' reads data of shape [28, 28]", 'needs a Flatten before a Dense');
  const conv1d = tfjsDoc('mnist_mlp');
  conv1d.modelTopology.model_config.config.layers.splice(1, 0, { class_name: 'Conv1D', config: { name: 'conv1d', filters: 4, kernel_size: [3] } });
  expectDtdError(load(conv1d), 'unsupported', "layer 'conv1d' (Conv1D)", 'which DTD Lens does not support yet');
  // Flatten then Reshape to another channels-last shape: a reordering of the values.
  const reorder = tfjsDoc('small_cnn_uint8');
  const layers = reorder.modelTopology.model_config.config.layers;
  layers.splice(5, 0, { class_name: 'Reshape', config: { name: 'reshape', target_shape: [10, 5, 4] } }, { class_name: 'Flatten', config: { name: 'flatten_2' } });
  expectDtdError(() => loadModel(new TextEncoder().encode(JSON.stringify(reorder)), 'model.json', { readSibling: (n) => bytes(path.join(TFJS, 'small_cnn_uint8', n)) }), 'unsupported', "Reshape 'reshape' turns [200] into channels-last [10, 5, 4]");
  const shared = tfjsDoc('functional_blocks');
  shared.modelTopology.model_config.config.layers.find((l: Obj) => l.name === 'conv2d_2').inbound_nodes.push([['reshape', 0, 0, {}]]);
  expectDtdError(load(shared), 'unsupported', "layer 'conv2d_2' is called 2 times (shared layers are not supported)");
  const padDense = tfjsDoc('small_cnn_uint8');
  padDense.modelTopology.model_config.config.layers.splice(4, 0, { class_name: 'ZeroPadding2D', config: { name: 'zp', padding: [1, 1] } });
  expectDtdError(() => loadModel(new TextEncoder().encode(JSON.stringify(padDense)), 'model.json', { readSibling: (n) => bytes(path.join(TFJS, 'small_cnn_uint8', n)) }), 'unsupported', "a ZeroPadding2D is followed by Flatten 'flatten_1'");
  const twoOut = tfjsDoc('functional_blocks');
  twoOut.modelTopology.model_config.config.output_layers.push(['dense', 0, 0]);
  expectDtdError(load(twoOut), 'unsupported', 'the model has 2 outputs');
});

test('Keras list-form Sequential (Keras ≤ 2.1, early tfjs-layers) is read, not "has no Keras model config"', () => {
  const doc = JSON.parse(fs.readFileSync(path.join(TFJS, 'binary_mlp_list', 'model.json'), 'utf8'));
  assert.ok(Array.isArray(doc.modelTopology.model_config.config), 'the config is the bare list of layers');
  assert.equal(loadTfjs('binary_mlp_list').layers.length, 3);
});

test('TF.js-built model: ZeroPadding2D before a MaxPooling2D of ReLU output, "same" average pooling, GlobalMaxPooling2D, Concatenate of flattened maps: DTD Lens matches TensorFlow.js predict()', async () => {
  const seeded = (seed: number) => ({ kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: tf.initializers.randomNormal({ seed: seed + 100, stddev: 0.3 }) });
  const input = tf.input({ shape: [7, 7, 2] });
  const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1', ...seeded(1) }).apply(input) as tf.SymbolicTensor;
  const p = tf.layers.zeroPadding2d({ padding: 1, name: 'zp' }).apply(a) as tf.SymbolicTensor;
  const m = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'mp' }).apply(p) as tf.SymbolicTensor;
  const v = tf.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same', name: 'ap' }).apply(a) as tf.SymbolicTensor;
  const g = tf.layers.globalMaxPooling2d({ name: 'gmp' }).apply(m) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([tf.layers.flatten({ name: 'f1' }).apply(m) as tf.SymbolicTensor, tf.layers.flatten({ name: 'f2' }).apply(v) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  const d = tf.layers.dense({ units: 4, name: 'd', activation: 'elu', ...seeded(2) }).apply(cat) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, name: 'out', ...seeded(3) }).apply(tf.layers.concatenate({ name: 'cat2' }).apply([d, g]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (art) => ((saved = art), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  const doc = { format: 'layers-model', modelTopology: saved!.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights: saved!.weightSpecs }] };
  const net = loadModel(new TextEncoder().encode(JSON.stringify(doc)), 'model.json', { files: { 'w.bin': new Uint8Array(saved!.weightData as ArrayBuffer) } });
  assert.ok(net.notes.some((n) => n.startsWith("ZeroPadding2D before MaxPooling2D 'mp' merged into the pooling")), JSON.stringify(net.notes));
  const x = tf.randomUniform([7, 7, 2], -1, 1, 'float32', 7);
  const want = tf.tidy(() => (model.predict(x.expandDims(0)) as tf.Tensor).dataSync());
  const chw = tf.tidy(() => x.transpose([2, 0, 1]).dataSync());
  const got = outputs(net, chw);
  const err = Math.max(...Array.from(want, (w, i) => Math.abs(w - got[i])));
  assert.ok(err <= 1e-5, `max |DTD Lens − TF.js| = ${err}`);
  x.dispose();
  model.dispose();
});
