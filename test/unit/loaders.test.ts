// Model loaders: every fixture gives the same network from .json, .onnx and
// .safetensors; hostile, truncated and unsupported files give DtdErrors with
// the right code and the file name in the message.

import { supportedText } from '../../extension/engine/loaders/builder';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { onnx } from 'onnx-proto';
import { isDtdError, type DtdErrorCode } from '../../extension/engine/errors';
import type { DenseNetwork } from '../../extension/engine/network';
import { SUPPORTED_MODEL_EXTENSIONS, loadModel, sidecarNameFor } from '../../extension/engine/loaders/index';
import { ONNX_OP_HANDLERS, SUPPORTED_ONNX_OPS, onnxOpHandler } from '../../extension/engine/loaders/onnx';

import { FIXTURES_DIR as FIXTURES } from '../helpers/fixtures';
import { requireDense } from '../../extension/engine/network';

/** The loaders' dense networks (conv loaders come later), typed so tests can read weights. */
const loadDense = (...args: Parameters<typeof loadModel>) => requireDense(loadModel(...args));

// ---------- helpers ----------

function expectDtdError(fn: () => unknown, code: DtdErrorCode, fileName: string, ...fragments: (string | RegExp)[]): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected a DtdError '${code}' for ${fileName}, but loading succeeded`);
  assert.ok(isDtdError(caught), `expected a DtdError, got ${String(caught)}`);
  assert.equal(caught.code, code, `wrong code; message: ${caught.message}`);
  assert.ok(caught.message.includes(path.basename(fileName)), `message should name ${fileName}: ${caught.message}`);
  for (const f of fragments) {
    if (typeof f === 'string') assert.ok(caught.message.includes(f), `message should contain '${f}': ${caught.message}`);
    else assert.match(caught.message, f);
  }
  return caught.message;
}

/** Seeded PRNG (mulberry32) so random-byte tests are reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface StTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

function f32(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function writeSafetensors(tensors: Record<string, StTensor>, headerOverride?: (h: Record<string, unknown>) => void): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    header[key] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    parts.push(t.data);
    offset += t.data.length;
  }
  headerOverride?.(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/** A 2-3-2 Linear stack: layer1 [3,2], layer2 [2,3]. */
function smallStateDict(keys: [string, string, string, string] = ['layer1.linear.weight', 'layer1.linear.bias', 'layer2.linear.weight', 'layer2.linear.bias']): Record<string, StTensor> {
  return {
    [keys[0]]: { dtype: 'F32', shape: [3, 2], data: f32([1, 2, 3, 4, 5, 6]) },
    [keys[1]]: { dtype: 'F32', shape: [3], data: f32([0.5, -0.5, 0.25]) },
    [keys[2]]: { dtype: 'F32', shape: [2, 3], data: f32([-1, 0, 1, 2, -2, 0.75]) },
    [keys[3]]: { dtype: 'F32', shape: [2], data: f32([0, 1]) },
  };
}

const AT = onnx.AttributeProto.AttributeType;
const DT = onnx.TensorProto.DataType;

function floatTensor(name: string, dims: number[], values: number[], mode: 'raw' | 'float_data' | 'double_data' = 'raw'): onnx.ITensorProto {
  if (mode === 'float_data') return { name, dims, dataType: DT.FLOAT, floatData: values };
  if (mode === 'double_data') return { name, dims, dataType: DT.DOUBLE, doubleData: values };
  return { name, dims, dataType: DT.FLOAT, rawData: f32(values) };
}

function int64Tensor(name: string, values: number[], mode: 'raw' | 'int64_data' = 'int64_data'): onnx.ITensorProto {
  if (mode === 'int64_data') return { name, dims: [values.length], dataType: DT.INT64, int64Data: values };
  const raw = new Uint8Array(8 * values.length);
  values.forEach((v, i) => new DataView(raw.buffer).setBigInt64(8 * i, BigInt(v), true));
  return { name, dims: [values.length], dataType: DT.INT64, rawData: raw };
}

function onnxModel(nodes: onnx.INodeProto[], initializer: onnx.ITensorProto[], inFeatures: number, opts: { output?: string; opset?: number } = {}): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: 7,
    producerName: 'dtd-lens-test',
    opsetImport: [{ domain: '', version: opts.opset ?? 13 }],
    graph: {
      name: 'test',
      node: nodes,
      initializer,
      input: [{ name: 'x', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: inFeatures }] } } } }],
      output: [{ name: opts.output ?? 'y' }],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

function gemm(name: string, input: string, w: string, b: string, output: string, attrs: { transB?: number; alpha?: number; beta?: number } = { transB: 1 }): onnx.INodeProto {
  const attribute: onnx.IAttributeProto[] = [];
  if (attrs.transB !== undefined) attribute.push({ name: 'transB', type: AT.INT, i: attrs.transB });
  if (attrs.alpha !== undefined) attribute.push({ name: 'alpha', type: AT.FLOAT, f: attrs.alpha });
  if (attrs.beta !== undefined) attribute.push({ name: 'beta', type: AT.FLOAT, f: attrs.beta });
  return { name, opType: 'Gemm', input: [input, w, b], output: [output], attribute };
}

function node(name: string, opType: string, input: string[], output: string[], attribute: onnx.IAttributeProto[] = []): onnx.INodeProto {
  return { name, opType, input, output, attribute };
}

function assertSameNetwork(actual: DenseNetwork, expected: DenseNetwork, label: string): void {
  assert.equal(actual.inputSize, expected.inputSize, `${label}: inputSize`);
  assert.equal(actual.layers.length, expected.layers.length, `${label}: layer count`);
  assert.deepEqual(actual.outputSelection, expected.outputSelection, `${label}: outputSelection`);
  actual.layers.forEach((l, i) => {
    const e = expected.layers[i];
    assert.equal(l.inFeatures, e.inFeatures, `${label} layer ${i + 1}: inFeatures`);
    assert.equal(l.outFeatures, e.outFeatures, `${label} layer ${i + 1}: outFeatures`);
    assert.equal(l.activation, e.activation, `${label} layer ${i + 1}: activation`);
    assertExactlyEqual(l.weight, e.weight, `${label} layer ${i + 1} weight`);
    assertExactlyEqual(l.bias, e.bias, `${label} layer ${i + 1} bias`);
  });
}

function assertExactlyEqual(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${label}[${i}]: ${actual[i]} !== ${expected[i]}`);
  }
}

// ---------- fixtures: three formats, one network ----------

const cases = fs.existsSync(FIXTURES)
  ? fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)).sort()
  : [];

test('the fixture folder is found and holds cases', () => {
  assert.ok(cases.length >= 13, `expected the DTD fixtures in ${FIXTURES} (set DTD_FIXTURES_DIR), found ${cases.length}`);
});

for (const name of cases) {
  test(`fixture ${name}: .json, .onnx and .safetensors give the JSON's network exactly`, () => {
    const jsonBytes = fs.readFileSync(path.join(FIXTURES, `${name}.json`));
    const raw = JSON.parse(jsonBytes.toString('utf8')).network;
    // The reference, built straight from the JSON text (independent of the JSON loader).
    const expected: DenseNetwork = {
      inputSize: raw.input_size,
      layers: raw.layers.map((l: { name: string; in_features: number; out_features: number; weight: number[][]; bias: number[]; activation: 'relu' | 'linear' }) => ({
        kind: 'dense',
        name: l.name,
        inFeatures: l.in_features,
        outFeatures: l.out_features,
        weight: Float64Array.from(l.weight.flat()),
        bias: Float64Array.from(l.bias),
        activation: l.activation,
      })),
      outputSelection: raw.output_selection ? { start: raw.output_selection.start, stop: raw.output_selection.stop } : null,
      source: { format: 'json', file: `${name}.json` },
      notes: [],
    };
    // The README says weights are float32 values stored exactly; exact comparison relies on it.
    for (const l of expected.layers) for (const w of [...l.weight, ...l.bias]) assert.equal(Math.fround(w), w, `${name}: ${w} is not a float32 value`);

    const fromJson = loadDense(jsonBytes, `${name}.json`);
    assertSameNetwork(fromJson, expected, `${name}.json`);
    assert.deepEqual(fromJson.layers.map((l) => l.name), expected.layers.map((l) => l.name));
    assert.equal(fromJson.source.format, 'json');

    const fromOnnx = loadDense(fs.readFileSync(path.join(FIXTURES, `${name}.onnx`)), `${name}.onnx`);
    assertSameNetwork(fromOnnx, expected, `${name}.onnx`);
    assert.equal(fromOnnx.source.format, 'onnx');

    const fromSafetensors = loadDense(fs.readFileSync(path.join(FIXTURES, `${name}.safetensors`)), `${name}.safetensors`, {
      finalActivation: 'relu',
      sidecar: raw.output_selection ? { outputSelection: raw.output_selection } : undefined,
    });
    assertSameNetwork(fromSafetensors, expected, `${name}.safetensors`);
    assert.deepEqual(fromSafetensors.layers.map((l) => l.name), expected.layers.map((l) => l.name));
    assert.equal(fromSafetensors.source.format, 'safetensors');
  });
}

test('fixture ONNX: layer names are the Gemm node names; the Slice becomes the output selection', (t) => {
  const file = path.join(FIXTURES, 'mlp3_seed1_output_selection.onnx');
  if (!fs.existsSync(file)) return t.skip('fixture missing');
  const net = loadDense(fs.readFileSync(file), file);
  assert.deepEqual(net.layers.map((l) => l.name), ['layer1', 'layer2', 'layer3']);
  assert.deepEqual(net.outputSelection, { start: 0, stop: 1 });
});

// ---------- dispatch, sidecar ----------

test('unknown extension: unsupported, listing the supported formats', () => {
  expectDtdError(() => loadDense(new Uint8Array(10), 'model.tflite'), 'unsupported', 'model.tflite', '.onnx', '.safetensors', '.json');
  expectDtdError(() => loadDense(new Uint8Array(10), '/some/dir/model'), 'unsupported', 'model');
  assert.deepEqual([...SUPPORTED_MODEL_EXTENSIONS].sort(), ['.h5', '.hdf5', '.json', '.keras', '.onnx', '.pt', '.pth', '.safetensors']);
});

test('extension dispatch ignores case and directories', () => {
  const net = loadDense(writeSafetensors(smallStateDict()), '/tmp/dir.v1/Model.SAFETENSORS');
  assert.equal(net.layers.length, 2);
});

test('sidecarNameFor: foo.safetensors → foo.dtd.json next to it', () => {
  assert.equal(sidecarNameFor('foo.safetensors'), 'foo.dtd.json');
  assert.equal(sidecarNameFor('/a/b.c/net.v2.onnx'), '/a/b.c/net.v2.dtd.json');
  assert.equal(sidecarNameFor('C:\\m\\model.safetensors'), 'C:\\m\\model.dtd.json');
  assert.equal(sidecarNameFor('noext'), 'noext.dtd.json');
});

// ---------- safetensors ----------

test('safetensors: ReLU between layers, none on the last unless told; sidecar and options', () => {
  const bytes = writeSafetensors(smallStateDict());
  const plain = loadDense(bytes, 'm.safetensors');
  assert.deepEqual(plain.layers.map((l) => l.activation), ['relu', 'linear']);
  assert.deepEqual(plain.layers.map((l) => l.name), ['layer1', 'layer2']);
  assert.equal(plain.inputSize, 2);
  assert.equal(plain.outputSelection, null);
  assertExactlyEqual(plain.layers[0].weight, [1, 2, 3, 4, 5, 6], 'weight');
  assertExactlyEqual(plain.layers[1].bias, [0, 1], 'bias');
  assert.ok(plain.notes.some((n) => n.includes('finalActivation')));

  const sidecar = loadDense(bytes, 'm.safetensors', { sidecar: { finalActivation: 'relu', outputSelection: { start: 1, stop: 2 } } });
  assert.equal(sidecar.layers[1].activation, 'relu');
  assert.deepEqual(sidecar.outputSelection, { start: 1, stop: 2 });
  const snake = loadDense(bytes, 'm.safetensors', { sidecar: { final_activation: 'relu', output_selection: { start: 0, stop: 1 } } });
  assert.equal(snake.layers[1].activation, 'relu');
  assert.deepEqual(snake.outputSelection, { start: 0, stop: 1 });
  const override = loadDense(bytes, 'm.safetensors', { finalActivation: 'linear', sidecar: { finalActivation: 'relu' } });
  assert.equal(override.layers[1].activation, 'linear');

  expectDtdError(() => loadDense(bytes, 'm.safetensors', { sidecar: { finalActivation: 'tanh' } }), 'bad-model', 'm.dtd.json', 'finalActivation');
  expectDtdError(() => loadDense(bytes, 'm.safetensors', { sidecar: { outputSelection: { start: 0, stop: 5 } } }), 'bad-model', 'm.safetensors', 'output selection');
});

test('safetensors: nn.Sequential keys are ordered numerically (2 before 10), missing bias is zero', () => {
  const w = (out: number, inp: number, v: number) => ({ dtype: 'F32', shape: [out, inp], data: f32(new Array(out * inp).fill(v)) });
  const bytes = writeSafetensors({
    '10.weight': w(1, 3, 3),
    '0.weight': w(4, 2, 1),
    '0.bias': { dtype: 'F32', shape: [4], data: f32([1, 2, 3, 4]) },
    '2.weight': w(3, 4, 2),
  });
  const net = loadDense(bytes, 'seq.safetensors');
  assert.deepEqual(net.layers.map((l) => [l.name, l.inFeatures, l.outFeatures]), [['layer1', 2, 4], ['layer2', 4, 3], ['layer3', 3, 1]]);
  assertExactlyEqual(net.layers[1].bias, [0, 0, 0], 'missing bias');
  assertExactlyEqual(net.layers[2].weight, [3, 3, 3], 'layer3 weight');
});

test('safetensors: F64, F16 and BF16 weights are decoded', () => {
  const f64 = new Uint8Array(Float64Array.from([0.1, -2.5]).buffer);
  const f16 = new Uint8Array(Uint16Array.from([0x3c00, 0xc000]).buffer); // 1, -2
  const bf16 = new Uint8Array(Uint16Array.from([0x3fc0, 0x4049]).buffer); // 1.5, 3.140625
  const net = loadDense(writeSafetensors({
    'layer1.linear.weight': { dtype: 'F64', shape: [1, 2], data: f64 },
    'layer1.linear.bias': { dtype: 'F16', shape: [1], data: f16.subarray(0, 2) },
    'layer2.linear.weight': { dtype: 'BF16', shape: [2, 1], data: bf16 },
    'layer2.linear.bias': { dtype: 'F16', shape: [2], data: f16 },
  }), 'dtypes.safetensors');
  assertExactlyEqual(net.layers[0].weight, [0.1, -2.5], 'F64');
  assertExactlyEqual(net.layers[0].bias, [1], 'F16');
  assertExactlyEqual(net.layers[1].weight, [1.5, 3.140625], 'BF16');
  assertExactlyEqual(net.layers[1].bias, [1, -2], 'F16');
});

test('safetensors: truncated at many points → bad-model naming the file', () => {
  const bytes = writeSafetensors(smallStateDict());
  for (const cut of [0, 3, 7, 8, 9, 20, Math.floor(bytes.length / 2), bytes.length - 5, bytes.length - 1]) {
    expectDtdError(() => loadDense(bytes.subarray(0, cut), 'cut.safetensors'), 'bad-model', 'cut.safetensors');
  }
});

test('safetensors: header length larger than the file (or absurd) → bad-model, nothing allocated', () => {
  const bytes = writeSafetensors(smallStateDict());
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(bytes.length), true);
  expectDtdError(() => loadDense(bytes, 'big.safetensors'), 'bad-model', 'big.safetensors', 'header claims');
  view.setBigUint64(0, 0xffffffffffffffffn, true);
  expectDtdError(() => loadDense(bytes, 'huge.safetensors'), 'bad-model', 'huge.safetensors', 'header claims');
});

test('safetensors: malformed headers → bad-model naming the problem', () => {
  const notJson = writeSafetensors(smallStateDict());
  notJson[8] = 0x7b + 1; // '|' instead of '{'
  expectDtdError(() => loadDense(notJson, 'h.safetensors'), 'bad-model', 'h.safetensors', 'not JSON');

  const outside = writeSafetensors(smallStateDict(), (h) => {
    (h['layer2.linear.bias'] as { data_offsets: number[] }).data_offsets = [1000, 1008];
  });
  expectDtdError(() => loadDense(outside, 'o.safetensors'), 'bad-model', 'o.safetensors', 'layer2.linear.bias', 'outside');

  const mismatch = writeSafetensors(smallStateDict(), (h) => {
    (h['layer1.linear.weight'] as { shape: number[] }).shape = [3, 3];
  });
  expectDtdError(() => loadDense(mismatch, 's.safetensors'), 'bad-model', 's.safetensors', 'layer1.linear.weight', 'bytes');

  const unknownDtype = writeSafetensors(smallStateDict(), (h) => {
    (h['layer1.linear.bias'] as { dtype: string }).dtype = 'Q7';
  });
  expectDtdError(() => loadDense(unknownDtype, 'd.safetensors'), 'bad-model', 'd.safetensors', 'Q7');

  const intWeights = writeSafetensors({ ...smallStateDict(), 'layer1.linear.bias': { dtype: 'I32', shape: [3], data: new Uint8Array(Int32Array.from([1, 2, 3]).buffer) } });
  expectDtdError(() => loadDense(intWeights, 'i.safetensors'), 'bad-model', 'i.safetensors', 'I32');

  const negative = writeSafetensors(smallStateDict(), (h) => {
    (h['layer1.linear.bias'] as { data_offsets: number[] }).data_offsets = [20, 8];
  });
  expectDtdError(() => loadDense(negative, 'n.safetensors'), 'bad-model', 'n.safetensors', 'data_offsets');

  expectDtdError(() => loadDense(writeSafetensors({}), 'empty.safetensors'), 'bad-model', 'empty.safetensors', 'no tensors');
});

test('safetensors: NaN and infinite weights → bad-model from validation', () => {
  const dict = smallStateDict();
  dict['layer2.linear.weight'] = { dtype: 'F32', shape: [2, 3], data: f32([1, 2, NaN, 4, 5, 6]) };
  expectDtdError(() => loadDense(writeSafetensors(dict), 'nan.safetensors'), 'bad-model', 'nan.safetensors', 'layer2', 'NaN');
  dict['layer2.linear.weight'] = { dtype: 'F32', shape: [2, 3], data: f32([1, 2, 3, 4, 5, 6]) };
  dict['layer1.linear.bias'] = { dtype: 'F32', shape: [3], data: f32([0, Infinity, 0]) };
  expectDtdError(() => loadDense(writeSafetensors(dict), 'inf.safetensors'), 'bad-model', 'inf.safetensors', 'Infinity');
});

test('safetensors: shapes that do not chain → bad-model', () => {
  const dict = smallStateDict();
  dict['layer2.linear.weight'] = { dtype: 'F32', shape: [2, 4], data: f32(new Array(8).fill(1)) };
  expectDtdError(() => loadDense(writeSafetensors(dict), 'chain.safetensors'), 'bad-model', 'chain.safetensors', 'layer2');
  const dict2 = smallStateDict();
  dict2['layer2.linear.bias'] = { dtype: 'F32', shape: [5], data: f32([1, 2, 3, 4, 5]) };
  expectDtdError(() => loadDense(writeSafetensors(dict2), 'bias.safetensors'), 'bad-model', 'bias.safetensors', 'layer2.linear.bias');
});

test('safetensors: conv and BatchNorm keys → one unsupported error listing each key', () => {
  const dict: Record<string, StTensor> = {
    ...smallStateDict(),
    'conv1.weight': { dtype: 'F32', shape: [2, 1, 3, 3], data: f32(new Array(18).fill(0)) },
    'bn1.running_mean': { dtype: 'F32', shape: [2], data: f32([0, 0]) },
    'bn1.num_batches_tracked': { dtype: 'I64', shape: [], data: new Uint8Array(8) },
  };
  const message = expectDtdError(() => loadDense(writeSafetensors(dict), 'cnn.safetensors'), 'unsupported', 'cnn.safetensors',
    "'conv1.weight'", "'bn1.running_mean'", "'bn1.num_batches_tracked'", 'Linear');
  assert.match(message, /convolution/);
  assert.ok(!message.includes("'layer2.linear.weight'"), 'Linear keys are not offending');
});

test('safetensors: random bytes (seeded) → bad-model', () => {
  const rnd = mulberry32(12345);
  for (let trial = 0; trial < 50; trial++) {
    const bytes = Uint8Array.from({ length: 16 + Math.floor(rnd() * 500) }, () => Math.floor(rnd() * 256));
    expectDtdError(() => loadDense(bytes, 'random.safetensors'), 'bad-model', 'random.safetensors');
  }
  // A plausible small header length followed by garbage.
  const bytes = Uint8Array.from({ length: 200 }, () => Math.floor(rnd() * 256));
  new DataView(bytes.buffer).setBigUint64(0, 100n, true);
  expectDtdError(() => loadDense(bytes, 'random.safetensors'), 'bad-model', 'random.safetensors', 'not JSON');
});

// ---------- ONNX ----------

test('ONNX: MatMul + Add + Relu with typed float_data/double_data, Flatten/Identity/Dropout pass through, no final Relu → linear', () => {
  // W1 stored [in=2, out=3] for MatMul; W2 via Gemm transB=0 [in=3, out=2].
  const bytes = onnxModel(
    [
      node('flatten', 'Flatten', ['x'], ['f'], [{ name: 'axis', type: AT.INT, i: 1 }]),
      node('fc1', 'MatMul', ['f', 'W1'], ['m1']),
      node('bias1', 'Add', ['m1', 'B1'], ['a1']),
      node('relu1', 'Relu', ['a1'], ['r1']),
      node('drop', 'Dropout', ['r1'], ['d1']),
      node('', 'Gemm', ['d1', 'W2', 'B2'], ['g2'], [{ name: 'transB', type: AT.INT, i: 0 }, { name: 'alpha', type: AT.FLOAT, f: 2 }, { name: 'beta', type: AT.FLOAT, f: 0.5 }]),
      node('id', 'Identity', ['g2'], ['y']),
    ],
    [
      floatTensor('W1', [2, 3], [1, 2, 3, 4, 5, 6], 'float_data'),
      floatTensor('B1', [3], [0.1, 0.2, 0.3], 'double_data'),
      floatTensor('W2', [3, 2], [1, -1, 2, -2, 3, -3]),
      floatTensor('B2', [1, 2], [4, 8], 'float_data'),
    ],
    2,
  );
  const net = loadDense(bytes, 'mlp.onnx');
  assert.equal(net.inputSize, 2);
  assert.deepEqual(net.layers.map((l) => [l.name, l.inFeatures, l.outFeatures, l.activation]), [['fc1', 2, 3, 'relu'], ['layer2', 3, 2, 'linear']]);
  assertExactlyEqual(net.layers[0].weight, [1, 4, 2, 5, 3, 6], 'MatMul weight transposed to [out, in]');
  assertExactlyEqual(net.layers[0].bias, [0.1, 0.2, 0.3], 'Add bias from double_data');
  assertExactlyEqual(net.layers[1].weight, [2, 4, 6, -2, -4, -6], 'Gemm alpha·Bᵀ');
  assertExactlyEqual(net.layers[1].bias, [2, 4], 'Gemm beta·C');
  assert.equal(net.outputSelection, null);
});

test('ONNX: Slice with int64 initializers (typed and raw) and negative/huge bounds → outputSelection; Relu on the last layer', () => {
  const layers = [
    gemm('g1', 'x', 'W1', 'B1', 'h1'),
    node('r1', 'Relu', ['h1'], ['a1']),
    gemm('g2', 'a1', 'W2', 'B2', 'h2'),
    node('r2', 'Relu', ['h2'], ['a2']),
  ];
  const inits = [
    floatTensor('W1', [3, 2], [1, 2, 3, 4, 5, 6]),
    floatTensor('B1', [3], [0, 0, 0]),
    floatTensor('W2', [4, 3], new Array(12).fill(0.5)),
    floatTensor('B2', [4], [1, 2, 3, 4]),
  ];
  const sliced = onnxModel(
    [...layers, node('slice', 'Slice', ['a2', 'starts', 'ends', 'axes', 'steps'], ['y'])],
    [...inits, int64Tensor('starts', [-3]), int64Tensor('ends', [Number.MAX_SAFE_INTEGER], 'raw'), int64Tensor('axes', [1]), int64Tensor('steps', [1], 'raw')],
    2,
  );
  const net = loadDense(sliced, 'sliced.onnx');
  assert.deepEqual(net.outputSelection, { start: 1, stop: 4 });
  assert.equal(net.layers[1].activation, 'relu');

  // Constant nodes for starts/ends/axes, as torch exports them (here one via value_ints).
  const withConstants = onnxModel(
    [
      ...layers,
      node('c0', 'Constant', [], ['s'], [{ name: 'value', type: AT.TENSOR, t: int64Tensor('', [1], 'raw') }]),
      node('c1', 'Constant', [], ['e'], [{ name: 'value', type: AT.TENSOR, t: int64Tensor('', [3], 'raw') }]),
      node('c2', 'Constant', [], ['ax'], [{ name: 'value_ints', type: AT.INTS, ints: [-1] }]),
      node('slice', 'Slice', ['a2', 's', 'e', 'ax'], ['y']),
    ],
    inits,
    2,
  );
  assert.deepEqual(loadDense(withConstants, 'const.onnx').outputSelection, { start: 1, stop: 3 });

  const batchAxis = onnxModel([...layers, node('slice', 'Slice', ['a2', 'starts', 'ends', 'axes'], ['y'])],
    [...inits, int64Tensor('starts', [0]), int64Tensor('ends', [1]), int64Tensor('axes', [0])], 2);
  expectDtdError(() => loadDense(batchAxis, 'batch.onnx'), 'unsupported', 'batch.onnx', 'batch axis');

  const empty = onnxModel([...layers, node('slice', 'Slice', ['a2', 'starts', 'ends', 'axes'], ['y'])],
    [...inits, int64Tensor('starts', [3]), int64Tensor('ends', [2]), int64Tensor('axes', [1])], 2);
  expectDtdError(() => loadDense(empty, 'empty.onnx'), 'bad-model', 'empty.onnx', 'selects no outputs');

  // Without axes, ONNX slices axes 0..n-1: one start/end means the batch axis.
  const noAxes = onnxModel([...layers, node('slice', 'Slice', ['a2', 'starts', 'ends'], ['y'])],
    [...inits, int64Tensor('starts', [0]), int64Tensor('ends', [1])], 2);
  expectDtdError(() => loadDense(noAxes, 'noaxes.onnx'), 'unsupported', 'noaxes.onnx', 'batch axis');

  // Both axes: the full batch range and a feature range.
  const both = onnxModel([...layers, node('slice', 'Slice', ['a2', 'starts', 'ends'], ['y'])],
    [...inits, int64Tensor('starts', [0, 2]), int64Tensor('ends', [Number.MAX_SAFE_INTEGER, 4])], 2);
  assert.deepEqual(loadDense(both, 'both.onnx').outputSelection, { start: 2, stop: 4 });
});

test('ONNX: an unsupported operator → one unsupported error naming node, operator and the supported set', () => {
  const bytes = onnxModel(
    [gemm('g', 'x', 'W', 'B', 'h'), node('HardSigmoid_3', 'HardSigmoid', ['h'], ['y'])],
    [floatTensor('W', [1, 4], [1, 1, 1, 1]), floatTensor('B', [1], [0])],
    4,
  );
  const message = expectDtdError(() => loadDense(bytes, 'model.onnx'), 'unsupported', 'model.onnx');
  assert.equal(
    message,
    "model.onnx: node 'HardSigmoid_3' uses operator HardSigmoid, which DTD Lens does not support yet (supported: Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, Relu, LeakyRelu, PRelu, Clip, Sigmoid, Tanh, Elu, MaxPool, AveragePool and 21 more, see docs/formats.md).",
  );
});

test('ONNX: the handler table is the one list of supported operators; prototype names are not operators', () => {
  assert.deepEqual(SUPPORTED_ONNX_OPS, Object.keys(ONNX_OP_HANDLERS));
  for (const op of SUPPORTED_ONNX_OPS) assert.equal(onnxOpHandler(op), ONNX_OP_HANDLERS[op], op);
  assert.ok(!SUPPORTED_ONNX_OPS.includes('Constant' as never), 'Constant is accepted but not listed');
  for (const op of ['HardSigmoid', 'Constant', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) assert.equal(onnxOpHandler(op), undefined, op);

  for (const op of ['toString', 'constructor']) {
    const bytes = onnxModel(
      [gemm('g', 'x', 'W', 'B', 'h'), node('odd', op, ['h'], ['y'])],
      [floatTensor('W', [1, 4], [1, 1, 1, 1]), floatTensor('B', [1], [0])],
      4,
    );
    const message = expectDtdError(() => loadDense(bytes, 'odd.onnx'), 'unsupported', 'odd.onnx');
    assert.equal(message, `odd.onnx: node 'odd' uses operator ${op}, which DTD Lens does not support yet (supported: ${supportedText([...SUPPORTED_ONNX_OPS, 'constant subgraphs (folded)'])}).`);
  }
});

test('ONNX: several unsupported operators and attributes are all listed at once, repeated operators grouped', () => {
  const bytes = onnxModel(
    [
      node('Conv_3', 'Conv', ['x', 'K'], ['c'], [{ name: 'group', type: onnx.AttributeProto.AttributeType.INT, i: 1 }]),
      node('Pool_4', 'LpPool', ['c'], ['p']),
      node('e1', 'Erf', ['p'], ['p1']),
      node('', 'Erf', ['p1'], ['p2']),
      node('e3', 'Erf', ['p2'], ['p3']),
      node('mp', 'MaxPool', ['p3'], ['m', 'idx'], [{ name: 'kernel_shape', type: onnx.AttributeProto.AttributeType.INTS, ints: [1, 1] }]),
      node('flat', 'Flatten', ['m'], ['f']),
      node('useidx', 'Flatten', ['idx'], ['f2']),
      gemm('g', 'f', 'W', 'B', 'y'),
    ],
    [floatTensor('K', [1, 1, 1, 1], [1]), floatTensor('W', [1, 4], [1, 1, 1, 1]), floatTensor('B', [1], [0])],
    4,
  );
  const message = expectDtdError(() => loadDense(bytes, 'cnn.onnx'), 'unsupported', 'cnn.onnx');
  assert.equal(
    message,
    "cnn.onnx: node 'Pool_4' uses operator LpPool, operator Erf ×3 (nodes 'e1', #3 (unnamed), …) and node 'mp' (MaxPool) has its Indices output used, " +
      'which DTD Lens does not support yet (supported: Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, Relu, LeakyRelu, PRelu, Clip, Sigmoid, Tanh, Elu, MaxPool, AveragePool and 21 more, see docs/formats.md).',
  );
});

test('ONNX: a skip connection from the input becomes an add layer; a product of two branches → unsupported', () => {
  const bytes = onnxModel(
    [gemm('g1', 'x', 'W', 'B', 'h'), node('r', 'Relu', ['h'], ['a']), node('skip', 'Add', ['a', 'x'], ['y'])],
    [floatTensor('W', [2, 2], [1, 0, 0, 1]), floatTensor('B', [2], [0, 0])],
    2,
  );
  const net = loadModel(bytes, 'resnet.onnx');
  assert.deepEqual(net.layers.map((l) => [l.kind, l.activation, l.inputs ?? null]), [['dense', 'relu', null], ['add', 'linear', [1, 0]]]);
  const product = onnxModel(
    [gemm('g1', 'x', 'W', 'B', 'h'), node('r', 'Relu', ['h'], ['a']), node('gate', 'Mul', ['a', 'x'], ['y'])],
    [floatTensor('W', [2, 2], [1, 0, 0, 1]), floatTensor('B', [2], [0, 0])],
    2,
  );
  expectDtdError(() => loadModel(product, 'gate.onnx'), 'unsupported', 'gate.onnx', "node 'gate' (Mul) multiplies two tensors computed from the input");
});

test('ONNX: external-data initializer without its file → bad-model naming the file', () => {
  const external: onnx.ITensorProto = {
    name: 'W', dims: [1, 2], dataType: DT.FLOAT, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: '0' }],
  };
  const bytes = onnxModel([gemm('g', 'x', 'W', 'B', 'y')], [external, floatTensor('B', [1], [0])], 2);
  expectDtdError(() => loadDense(bytes, 'ext.onnx'), 'bad-model', 'ext.onnx', "'weights.bin'", 'next to the model');
});

test('ONNX: tensor data that does not match its shape, and missing tensors → bad-model', () => {
  const short = onnxModel([gemm('g', 'x', 'W', 'B', 'y')], [floatTensor('W', [2, 2], [1, 2, 3]), floatTensor('B', [2], [0, 0])], 2);
  expectDtdError(() => loadDense(short, 'short.onnx'), 'bad-model', 'short.onnx', "initializer 'W'");
  const missing = onnxModel([gemm('g', 'x', 'W', 'B', 'y')], [floatTensor('W', [2, 2], [1, 2, 3, 4])], 2);
  expectDtdError(() => loadDense(missing, 'missing.onnx'), 'bad-model', 'missing.onnx', "'B'");
  const nan = onnxModel([gemm('g', 'x', 'W', 'B', 'y')], [floatTensor('W', [2, 2], [1, NaN, 3, 4]), floatTensor('B', [2], [0, 0])], 2);
  expectDtdError(() => loadDense(nan, 'nan.onnx'), 'bad-model', 'nan.onnx', 'non-finite');
  const wrongInput = onnxModel([gemm('g', 'x', 'W', 'B', 'y')], [floatTensor('W', [2, 3], [1, 2, 3, 4, 5, 6]), floatTensor('B', [2], [0, 0])], 2);
  expectDtdError(() => loadDense(wrongInput, 'input.onnx'), 'bad-model', 'input.onnx', 'features');
});

test('ONNX: truncated fixture and hand-made models at many cut points → bad-model', () => {
  const made = onnxModel([gemm('g', 'x', 'W', 'B', 'h'), node('r', 'Relu', ['h'], ['y'])], [floatTensor('W', [2, 2], [1, 2, 3, 4]), floatTensor('B', [2], [0, 0])], 2);
  const sources: [string, Uint8Array][] = [['made.onnx', made]];
  const fixture = path.join(FIXTURES, 'mlp3_seed1_output_selection.onnx');
  if (fs.existsSync(fixture)) sources.push(['mlp3_seed1_output_selection.onnx', fs.readFileSync(fixture)]);
  for (const [name, bytes] of sources) {
    assert.ok(loadDense(bytes, name).layers.length > 0);
    for (const cut of [0, 1, 2, 10, 31, Math.floor(bytes.length / 3), Math.floor(bytes.length / 2), bytes.length - 20, bytes.length - 2, bytes.length - 1]) {
      expectDtdError(() => loadDense(bytes.subarray(0, cut), name), 'bad-model', name, 'not a valid ONNX model');
    }
  }
});

test('ONNX: random bytes (seeded) → bad-model', () => {
  const rnd = mulberry32(7);
  for (let trial = 0; trial < 100; trial++) {
    const bytes = Uint8Array.from({ length: 1 + Math.floor(rnd() * 400) }, () => Math.floor(rnd() * 256));
    expectDtdError(() => loadDense(bytes, 'noise.onnx'), 'bad-model', 'noise.onnx', 'not a valid ONNX model');
  }
});

// ---------- JSON ----------

test('JSON: bare network object, camelCase keys, flat weights, null activation', () => {
  const doc = {
    inputSize: 2,
    layers: [
      { name: 'hidden', inFeatures: 2, outFeatures: 2, weight: [[1, 2], [3, 4]], bias: [0.5, -0.5], activation: 'relu' },
      { inFeatures: 2, outFeatures: 1, weight: [5, 6], bias: [1], activation: null },
    ],
    outputSelection: { start: 0, stop: 1 },
  };
  const net = loadDense(new TextEncoder().encode(JSON.stringify(doc)), 'net.json');
  assert.deepEqual(net.layers.map((l) => [l.name, l.activation]), [['hidden', 'relu'], ['layer2', 'linear']]);
  assertExactlyEqual(net.layers[0].weight, [1, 2, 3, 4], 'weight');
  assertExactlyEqual(net.layers[1].weight, [5, 6], 'flat weight');
  assert.deepEqual(net.outputSelection, { start: 0, stop: 1 });
});

test('JSON: invalid, truncated, NaN and malformed networks → bad-model naming the file', () => {
  const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
  const good = { input_size: 2, layers: [{ name: 'l', in_features: 2, out_features: 1, weight: [[1, 2]], bias: [0], activation: 'relu' }], output_selection: null };
  const goodBytes = enc(good);
  assert.equal(loadDense(goodBytes, 'good.json').layers.length, 1);
  for (const cut of [0, 1, 10, Math.floor(goodBytes.length / 2), goodBytes.length - 1]) {
    expectDtdError(() => loadDense(goodBytes.subarray(0, cut), 'cut.json'), 'bad-model', 'cut.json');
  }
  expectDtdError(() => loadDense(enc({ ...good, layers: [{ ...good.layers[0], weight: [[1, 'NaN']] }] }), 'nan.json'), 'bad-model', 'nan.json', 'NaN');
  expectDtdError(() => loadDense(enc({ ...good, layers: [{ ...good.layers[0], weight: [[1, 2, 3]] }] }), 'row.json'), 'bad-model', 'row.json', 'weight row');
  expectDtdError(() => loadDense(enc({ ...good, layers: [{ ...good.layers[0], activation: 'tanh' }] }), 'act.json'), 'bad-model', 'act.json', 'tanh');
  expectDtdError(() => loadDense(enc({ ...good, input_size: 3 }), 'size.json'), 'bad-model', 'size.json');
  expectDtdError(() => loadDense(enc({ ...good, output_selection: { start: 0, stop: 2 } }), 'sel.json'), 'bad-model', 'sel.json', 'output selection');
  expectDtdError(() => loadDense(enc({ hello: 1 }), 'other.json'), 'bad-model', 'other.json', 'layers');
  expectDtdError(() => loadDense(enc({ ...good, layers: [] }), 'nolayers.json'), 'bad-model', 'nolayers.json', 'no layers');
  const rnd = mulberry32(99);
  for (let trial = 0; trial < 30; trial++) {
    const bytes = Uint8Array.from({ length: 1 + Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256));
    expectDtdError(() => loadDense(bytes, 'noise.json'), 'bad-model', 'noise.json');
  }
});
