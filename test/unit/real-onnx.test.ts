// ONNX files written by the real exporter (torch 1.13's torch.onnx.export, onnx 1.12;
// tools/real-models/make_onnx.py writes them with NAME.expected.json): every file loads,
// DTD Lens's forward pass (forward.ts `outputs`, float64 on the file's float32 weights)
// matches torch's own float32 forward of the stored input within 1e-5 absolute (torch's
// float32 rounding: the largest difference measured is 6.9e-7, on the ResNet-18-shaped
// network), and the loader's notes say what it assumed (constant folding with the batch
// dimension as 1, a final Sigmoid removed, a channels-last input). External data is read
// next to the model through the command line's confined reader (engine/files.ts), and
// through the engine child's needFiles round (names asked for in one pass).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onnx } from 'onnx-proto';
import { REAL_MODELS_DIR } from '../helpers/fixtures';
import { loadModel } from '../../extension/engine/loaders/index';
import { readConfined } from '../../extension/engine/files';
import { outputs } from '../../extension/engine/forward';
import { isDtdError } from '../../extension/engine/errors';
import { LIMITS } from '../../extension/protocol';

const DIR = path.join(REAL_MODELS_DIR, 'onnx');
const NAMES = fs.readdirSync(DIR).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort();
const TOLERANCE = 1e-5;

interface Expected {
  input: { shape: number[]; values: number[] };
  output: number[];
  explained_output: number[];
  layout: 'NCHW' | 'NHWC' | 'flat';
  torch: string;
  onnx: string;
  opset: number;
  export: string;
  ops: string[];
}

const expected = (name: string): Expected => JSON.parse(fs.readFileSync(path.join(DIR, `${name}.expected.json`), 'utf8'));

/** The command line's way to read a model and the files it names (confined to its folder). */
function loadLikeCli(file: string) {
  return loadModel(new Uint8Array(fs.readFileSync(file)), file, {
    readSibling: (name) => readConfined(file, name, LIMITS.modelFileMB * 1024 * 1024, { what: 'weight file' }),
  });
}

/** [1, H, W, C] values → [C, H, W] C-major, the layout DTD Lens takes every input in. */
function nhwcToNchw(shape: number[], v: number[]): number[] {
  const [, H, W, C] = shape;
  const out: number[] = [];
  for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) out.push(v[(h * W + w) * C + c]);
  return out;
}

test('real ONNX files: the generator wrote every model it lists, each small, with torch 1.13 and onnx 1.12', () => {
  assert.ok(NAMES.length >= 38, `${NAMES.length} models`);
  let total = 0;
  for (const name of NAMES) {
    const e = expected(name);
    assert.match(e.torch, /^1\.13/, name);
    assert.equal(e.onnx, '1.12.0', name);
    assert.match(e.export, /^torch\.onnx\.export\(model, x, /, name);
    const size = fs.statSync(path.join(DIR, `${name}.onnx`)).size;
    assert.ok(size <= 3 * 1024 * 1024, `${name}: ${size} bytes`);
    total += size;
  }
  assert.ok(total < 10 * 1024 * 1024, `${total} bytes in all`);
  for (const opset of [9, 11, 13, 17]) for (const m of ['mlp', 'cnn']) for (const sfx of ['', '_nofold']) assert.ok(NAMES.includes(`${m}_opset${opset}${sfx}`), `${m}_opset${opset}${sfx}`);
});

for (const name of NAMES) {
  test(`real ONNX ${name}: loads, forward matches torch's float32 output within ${TOLERANCE}, the notes say what was assumed`, () => {
    const e = expected(name);
    const net = loadLikeCli(path.join(DIR, `${name}.onnx`));
    assert.equal(net.source.format, 'onnx');
    const x = e.layout === 'NHWC' ? nhwcToNchw(e.input.shape, e.input.values) : e.input.values;
    assert.equal(net.inputSize, x.length);
    if (e.layout !== 'flat') assert.equal(net.inputShape?.reduce((a, b) => a * b, 1), x.length);
    const y = outputs(net, x);
    assert.equal(y.length, e.explained_output.length);
    e.explained_output.forEach((want, k) => assert.ok(Math.abs(y[k] - want) <= TOLERANCE, `${name} output ${k}: ${y[k]} vs torch ${want}`));

    const notes = net.notes.join('\n');
    const finalSigmoid = e.ops[e.ops.length - 1] === 'Sigmoid';
    assert.equal(/Sigmoid '[^']*' at the output removed: DTD Lens explains the logit before it/.test(notes), finalSigmoid, notes);
    if (!finalSigmoid) assert.deepEqual(e.explained_output, e.output, 'only a final Sigmoid changes what is explained');
    assert.equal(/channels-last \[batch, \d+, \d+, \d+\] in the file/.test(notes), e.layout === 'NHWC', notes);
    const folds = e.ops.some((op) => ['Shape', 'Gather', 'Unsqueeze', 'Concat', 'Cast', 'Identity'].includes(op) || (op === 'Transpose' && e.layout !== 'NHWC'));
    const foldNote = net.notes.find((n) => /constant nodes? \(.*\) folded into constants: computed once in float64/.test(n));
    if (e.ops.includes('Shape')) assert.match(foldNote ?? '', /Shape.*with the batch dimension taken as 1/, notes);
    if (name === 'linear_nobias_opset9') assert.match(foldNote ?? '', /\(Transpose ×2\)/);
    if (name.startsWith('resnet18')) assert.match(foldNote ?? '', /\(Identity ×16\)/);
    if (!folds && !e.ops.includes('Concat')) assert.equal(foldNote, undefined, notes);
    if (e.ops.includes('BatchNormalization')) assert.match(notes, /BatchNormalization '[^']+' (folded into|follows no convolution)/);
  });
}

test('real ONNX: the graphs come out with the layers their modules make', () => {
  const kinds = (name: string) => loadLikeCli(path.join(DIR, `${name}.onnx`)).layers.map((l) => `${l.kind}${l.activation === 'linear' ? '' : `:${l.activation}`}${'groups' in l && l.groups ? `/g${l.groups}` : ''}`);
  assert.deepEqual(kinds('residual_small'), ['conv2d:relu', 'conv2d:relu', 'conv2d', 'add:relu', 'avgpool2d', 'dense']);
  assert.deepEqual(kinds('concat_small'), ['conv2d:relu', 'conv2d:relu', 'conv2d:relu', 'concat', 'maxpool2d', 'dense']);
  assert.deepEqual(kinds('depthwise_small'), ['conv2d:relu', 'conv2d:clip/g6', 'conv2d/g2', 'maxpool2d', 'dense']);
  assert.deepEqual(kinds('conv_transpose'), ['conv2d:relu', 'convtranspose2d:relu', 'dense']);
  assert.deepEqual(kinds('act_sigmoid_tanh_elu'), ['dense:sigmoid', 'dense:tanh', 'dense:elu', 'dense']);
  assert.deepEqual(kinds('act_leaky_prelu'), ['dense:leakyrelu', 'dense:leakyrelu', 'dense']);
  assert.deepEqual(kinds('bn1d_before_linear'), ['affine', 'dense:relu', 'dense']);
  assert.deepEqual(kinds('bn1d_unsqueeze'), ['dense:relu', 'dense']);
  // (x − mean)/std: one affine layer; relu(y) + 0.5·y reads the conv output twice, so neither fuses into it.
  assert.deepEqual(kinds('input_normalize'), ['affine', 'conv2d', 'affine:relu', 'affine', 'add', 'dense']);
  const resnetNames = loadLikeCli(path.join(DIR, 'resnet18_w16.onnx')).layers.map((l) => l.name);
  assert.deepEqual(resnetNames.slice(0, 5), ['conv1', 'maxpool', 'layer1.0.conv1', 'layer1.0.conv2', 'layer1.0.Add'], 'module paths from torch.onnx node names');
  assert.ok(resnetNames.includes('layer2.0.downsample.0'));
  const resnet = kinds('resnet18_w16');
  assert.equal(resnet.filter((k) => k.startsWith('add')).length, 8);
  assert.equal(resnet.filter((k) => k.startsWith('conv2d')).length, 20);
  const prelu = loadLikeCli(path.join(DIR, 'cnn_prelu_channels.onnx')).layers[0];
  assert.equal(prelu.activationParams?.slopes?.length, 4);
  const leaky = loadLikeCli(path.join(DIR, 'act_leaky_prelu.onnx')).layers;
  assert.deepEqual([leaky[0].activationParams?.alpha, leaky[1].activationParams?.slopes?.length], [0.1, 1]);
  for (const name of ['act_relu6_opset9', 'act_relu6_opset13']) {
    const l = loadLikeCli(path.join(DIR, `${name}.onnx`)).layers[0];
    assert.deepEqual([l.activation, l.activationParams?.min, l.activationParams?.max], ['clip', 0, 6], name);
  }
  const pools = loadLikeCli(path.join(DIR, 'avgpool_padded.onnx')).layers.filter((l) => l.kind === 'avgpool2d');
  assert.deepEqual(pools.map((p) => p.kind === 'avgpool2d' && [p.padding, p.countIncludePad]), [[[1, 1, 1, 1], true], [[1, 1, 1, 1], false]]);
  const ceil = loadLikeCli(path.join(DIR, 'depthwise_small.onnx'));
  assert.ok(ceil.notes.some((n) => /MaxPool '[^']+' uses ceil_mode: its last windows reach past the input; they are computed with 1 extra row\(s\) and 1 extra column\(s\)/.test(n)), ceil.notes.join('\n'));
});

test('real ONNX external data: read next to the model; missing, truncated or outside the folder → bad-model naming it', () => {
  const file = path.join(DIR, 'mlp_external.onnx');
  const bytes = new Uint8Array(fs.readFileSync(file));
  const data = new Uint8Array(fs.readFileSync(path.join(DIR, 'mlp_external.onnx.data')));
  const refused = (fn: () => unknown, ...fragments: (string | RegExp)[]) =>
    assert.throws(fn, (e: unknown) => isDtdError(e) && e.code === 'bad-model' && fragments.every((f) => (typeof f === 'string' ? e.message.includes(f) : f.test(e.message))) || assert.fail(String(e)));
  refused(() => loadModel(bytes, file), "mlp_external.onnx: initializer", "stores its data in 'mlp_external.onnx.data', which must lie next to the model");
  refused(() => loadModel(bytes, file, { files: { 'mlp_external.onnx.data': data.subarray(0, data.length - 4) } }), 'mlp_external.onnx.data', 'truncated or wrong file');
  const given = loadModel(bytes, file, { files: { 'mlp_external.onnx.data': data } });
  const e = expected('mlp_external');
  outputs(given, e.input.values).forEach((v, k) => assert.ok(Math.abs(v - e.output[k]) <= TOLERANCE));

  // The engine child's rounds (child.ts loadRequested): the first pass answers empty bytes and records the names.
  const asked = new Set<string>();
  assert.throws(() => loadModel(bytes, file, { readSibling: (name) => (asked.add(name), new Uint8Array(0)) }));
  assert.deepEqual([...asked], ['mlp_external.onnx.data']);

  // Through the command line's reader: a data file outside the folder (a symlink) is refused by the reader.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtd-onnx-ext-'));
  try {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'dtd-onnx-out-'));
    fs.writeFileSync(path.join(outside, 'mlp_external.onnx.data'), data);
    fs.copyFileSync(file, path.join(dir, 'mlp_external.onnx'));
    fs.symlinkSync(path.join(outside, 'mlp_external.onnx.data'), path.join(dir, 'mlp_external.onnx.data'));
    assert.throws(() => loadLikeCli(path.join(dir, 'mlp_external.onnx')), (err: unknown) => isDtdError(err) && /leads outside the model's folder|outside/.test(err.message));
    fs.rmSync(path.join(dir, 'mlp_external.onnx.data'));
    fs.writeFileSync(path.join(dir, 'mlp_external.onnx.data'), data);
    assert.equal(loadLikeCli(path.join(dir, 'mlp_external.onnx')).layers.length, 3);
    fs.rmSync(outside, { recursive: true });
  } finally {
    fs.rmSync(dir, { recursive: true });
  }

  // A location that leaves the folder, and an offset past the end, in a hand-edited copy.
  const m = onnx.ModelProto.decode(bytes);
  const w = m.graph!.initializer![0];
  const entry = (key: string) => w.externalData!.find((x) => x.key === key)!;
  entry('location').value = '../secret.bin';
  let asked2 = 0;
  refused(() => loadModel(onnx.ModelProto.encode(m).finish(), file, { readSibling: () => (asked2++, data) }), "'../secret.bin'", 'not a plain name inside the model');
  assert.equal(asked2, 1, 'only the other tensors\' file was read'); // the other initializers still name the real file
  entry('location').value = 'mlp_external.onnx.data';
  entry('offset').value = String(data.length + 8);
  refused(() => loadModel(onnx.ModelProto.encode(m).finish(), file, { files: { 'mlp_external.onnx.data': data } }), 'truncated or wrong file');
  entry('offset').value = '-4';
  refused(() => loadModel(onnx.ModelProto.encode(m).finish(), file, { files: { 'mlp_external.onnx.data': data } }), "external data offset of '-4'");
});
